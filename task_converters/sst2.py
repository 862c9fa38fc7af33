"""SST-2: binary sentiment of a movie-review sentence (decaNLP's SST task)."""
from decaqa import Task

# Source: nyu-mll/glue is plain parquet on main, one folder per config (PR #16 "Convert dataset
# to Parquet", glue.py deleted).
task = Task(
    name="sst2",
    dataset=("nyu-mll/glue", "sst2"),
    questions=["Is this review negative or positive?",
               "Is the sentiment of this review negative or positive?",
               "Does this review sound negative or positive?",
               "Is the opinion in this review negative or positive?"],
    choices=["negative", "positive"],
    metric="em",
    description="Stanford Sentiment Treebank, binary.",
)


@task.converter
def convert(row):
    if row["label"] < 0:            # GLUE test rows are unlabeled
        return None
    return {"context": row["sentence"].strip(), "answer": task.choices[row["label"]]}
