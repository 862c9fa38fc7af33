"""SQuAD 2.0: SQuAD plus unanswerable questions, answered "unanswerable" (decaNLP's squad2.0)."""
from decaqa import Task
from decaqa.formats import squad_triple

# Source: rajpurkar/squad_v2 is plain parquet on main (hub PR #6 "Convert dataset to Parquet").
task = Task(
    name="squad_v2",
    dataset="rajpurkar/squad_v2",
    metric="nf1",
    description="SQuAD 2.0; rows without answers expect the answer 'unanswerable'.",
)


@task.converter
def convert(row):
    return squad_triple(row)  # decaNLP's SQuAD rule, shared by squad and squad_v2
