"""QNLI (GLUE): does a Wikipedia sentence answer the question?"""
from decaqa import Task

# Source: nyu-mll/glue is plain parquet on main, one folder per config (PR #16 "Convert dataset
# to Parquet", glue.py deleted).
task = Task(
    name="qnli",
    dataset=("nyu-mll/glue", "qnli"),
    choices=["yes", "no"],          # HF label 0 entailment, 1 not_entailment
    metric="em",
    description="Question NLI, built from SQuAD.",
)


@task.converter
def convert(row):
    if row["label"] < 0:            # GLUE test rows are unlabeled
        return None
    return {"context": f'Sentence: "{row["sentence"]}"',
            "question": f'Question: "{row["question"]}" -- does the sentence answer it? yes or no?',
            "answer": task.choices[row["label"]]}
