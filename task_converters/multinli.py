"""MultiNLI: three-way natural language inference, the hypothesis asked as the question."""
from decaqa import Task

# Source: nyu-mll/multi_nli is plain parquet on main (commit c4f4109 "Convert dataset to Parquet").
task = Task(
    name="multinli",
    dataset="nyu-mll/multi_nli",
    # The first is decaNLP's exact wording (MultiNLI.cache_splits in
    # text/torchtext/datasets/generic.py); the others are paraphrases of it, the hypothesis
    # filled in per row, the three labels kept so the answer stays one of them.
    questions=['Hypothesis: "{hypothesis}" -- entailment, neutral, or contradiction?',
               'Does the premise entail "{hypothesis}", is it neutral, or does it contradict '
               'it? entailment, neutral, or contradiction?',
               'Given the premise, is "{hypothesis}" entailment, neutral, or contradiction?',
               'Premise and hypothesis "{hypothesis}": entailment, neutral, or contradiction?'],
    choices=["entailment", "neutral", "contradiction"],   # HF label ids 0, 1, 2
    metric="em",
    splits={"validation": "validation_matched"},
    description="Multi-Genre NLI; validation is the matched (in-genre) set.",
)


@task.converter
def convert(row):
    if row["label"] < 0:    # unlabeled pair: skipped, and counted as skipped
        return None
    return {"context": f'Premise: "{row["premise"]}"', "fields": {"hypothesis": row["hypothesis"]},
            "answer": task.choices[row["label"]]}
