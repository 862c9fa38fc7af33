"""SQuAD 2.0: SQuAD plus unanswerable questions, answered "unanswerable" (decaNLP's squad2.0)."""
from decaqa import Task

# Source: rajpurkar/squad_v2 is plain parquet on main (hub PR #6 "Convert dataset to Parquet").
task = Task(
    name="squad_v2",
    dataset="rajpurkar/squad_v2",
    metric="nf1",
    description="SQuAD 2.0; rows without answers expect the answer 'unanswerable'.",
)


@task.converter
def convert(row):
    # decaNLP's SQuAD class: an unanswerable question gets answer 'unanswerable' and a context
    # with its whitespace collapsed; answerable ones keep the context and list every answer.
    answers = list(row["answers"]["text"])
    context = row["context"] if answers else " ".join(row["context"].split())
    return {"context": context, "question": " ".join(row["question"].split()),
            "answer": answers or "unanswerable"}
