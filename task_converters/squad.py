"""SQuAD 1.1: extractive question answering over a Wikipedia paragraph (decaNLP's SQuAD task)."""
from decaqa import Task

# Source: rajpurkar/squad is plain parquet on main (hub "Convert dataset to Parquet"; no script).
task = Task(
    name="squad",
    dataset="rajpurkar/squad",
    metric="nf1",
    description="Stanford Question Answering Dataset v1.1; the question comes from each row.",
)


@task.converter
def convert(row):
    # decaNLP: question = ' '.join(q.split()); every annotator answer is acceptable, the first
    # is trained on. A row without answers (none in v1.1) becomes "unanswerable" as in decaNLP.
    answers = list(row["answers"]["text"])
    context = row["context"] if answers else " ".join(row["context"].split())
    return {"context": context, "question": " ".join(row["question"].split()),
            "answer": answers or "unanswerable"}
