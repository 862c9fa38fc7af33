"""RTE (GLUE): two-way entailment, asked like decaNLP's MultiNLI with two answers."""
from decaqa import Task

# Source: nyu-mll/glue is plain parquet on main, one folder per config (PR #16 "Convert dataset
# to Parquet", glue.py deleted).
task = Task(
    name="rte",
    dataset=("nyu-mll/glue", "rte"),
    choices=["entailment", "not entailment"],   # HF label 0 entailment, 1 not_entailment
    metric="em",
    description="Recognizing Textual Entailment (GLUE's merge of RTE1-3 and RTE5).",
)


@task.converter
def convert(row):
    if row["label"] < 0:            # GLUE test rows are unlabeled
        return None
    return {"context": f'Premise: "{row["sentence1"]}"',
            "question": f'Hypothesis: "{row["sentence2"]}" -- entailment or not entailment?',
            "answer": task.choices[row["label"]]}
