"""SST-2: binary sentiment of a movie-review sentence (decaNLP's SST task)."""
from decaqa import Task

task = Task(
    name="sst2",
    dataset=("nyu-mll/glue", "sst2"),
    questions=["Is this review negative or positive?",
               "Is the sentiment of this review negative or positive?",
               "Does this review sound negative or positive?"],
    choices=["negative", "positive"],
    metric="em",
    description="Stanford Sentiment Treebank, binary.",
)


@task.converter
def convert(row):
    return {"context": row["sentence"].strip(), "answer": task.choices[row["label"]]}
