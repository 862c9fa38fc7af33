"""CoLA (GLUE): is a sentence grammatically acceptable English?"""
from decaqa import Task

# Source: nyu-mll/glue is plain parquet on main, one folder per config (PR #16 "Convert dataset
# to Parquet", glue.py deleted).
task = Task(
    name="cola",
    dataset=("nyu-mll/glue", "cola"),
    questions=["Is this sentence unacceptable or acceptable?",
               "Is this sentence grammatically unacceptable or acceptable?",
               "Would a native speaker find this sentence unacceptable or acceptable?"],
    choices=["unacceptable", "acceptable"],     # HF label ids 0, 1
    metric="mcc",
    description="Corpus of Linguistic Acceptability.",
)


@task.converter
def convert(row):
    if row["label"] < 0:            # GLUE test rows are unlabeled
        return None
    return {"context": row["sentence"].strip(), "answer": task.choices[row["label"]]}
