"""SQuAD 1.1: extractive question answering over a Wikipedia paragraph (decaNLP's SQuAD task)."""
from decaqa import Task
from decaqa.formats import squad_triple

# Source: rajpurkar/squad is plain parquet on main (hub "Convert dataset to Parquet"; no script).
task = Task(
    name="squad",
    dataset="rajpurkar/squad",
    metric="nf1",
    description="Stanford Question Answering Dataset v1.1; the question comes from each row.",
)


@task.converter
def convert(row):
    return squad_triple(row)  # decaNLP's SQuAD rule, shared by squad and squad_v2
