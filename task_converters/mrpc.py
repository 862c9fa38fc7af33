"""MRPC (GLUE): is one news sentence a paraphrase of the other?"""
from decaqa import Task

# Source: nyu-mll/glue is plain parquet on main, one folder per config (PR #16 "Convert dataset
# to Parquet", glue.py deleted).
task = Task(
    name="mrpc",
    dataset=("nyu-mll/glue", "mrpc"),
    questions=["Is sentence 2 a paraphrase of sentence 1? yes or no?",
               "Do sentence 1 and sentence 2 mean the same thing? yes or no?",
               "Does sentence 2 say the same thing as sentence 1? yes or no?"],
    choices=["no", "yes"],          # HF label 0 not_equivalent, 1 equivalent
    metric=["em", "f1:yes"],        # accuracy, and F1 of the positive class "yes", as GLUE
    description="Microsoft Research Paraphrase Corpus.",
)


@task.converter
def convert(row):
    if row["label"] < 0:            # GLUE test rows are unlabeled
        return None
    return {"context": f'Sentence 1: "{row["sentence1"]}" Sentence 2: "{row["sentence2"]}"',
            "answer": task.choices[row["label"]]}
