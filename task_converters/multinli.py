"""MultiNLI: three-way natural language inference, the hypothesis asked as the question."""
from decaqa import Task

# Source: nyu-mll/multi_nli is plain parquet on main (commit c4f4109 "Convert dataset to Parquet").
task = Task(
    name="multinli",
    dataset="nyu-mll/multi_nli",
    choices=["entailment", "neutral", "contradiction"],   # HF label ids 0, 1, 2
    metric="em",
    splits={"validation": "validation_matched"},
    description="Multi-Genre NLI; validation is the matched (in-genre) set.",
)


@task.converter
def convert(row):
    if row["label"] < 0:    # unlabeled pair: skipped, and counted as skipped
        return None
    # decaNLP's exact wording (MultiNLI.cache_splits in text/torchtext/datasets/generic.py).
    question = f'Hypothesis: "{row["hypothesis"]}" -- entailment, neutral, or contradiction?'
    return {"context": f'Premise: "{row["premise"]}"', "question": question,
            "answer": task.choices[row["label"]]}
