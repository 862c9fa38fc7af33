"""Winograd Schema Challenge: resolve a pronoun by commonsense (decaNLP's schema/MWSC task)."""
from decaqa import Task

# Source: ErnestSDavis/winograd_wsc is a script data set; coref-data/davis_wsc_raw is a parquet
# duplicate of it with YAML configs (wsc285/test-00000-of-00001.parquet; same features text,
# pronoun, pronoun_loc, quote, quote_loc, options, label, source), loadable as (name, config).
task = Task(
    name="wsc",
    dataset=("coref-data/davis_wsc_raw", "wsc285"),
    metric="em",
    splits={"validation": "test", "test": "test"},
    description="WSC285 (Davis); decaNLP's MWSC schemas are a different, hand-written set.",
    note="The hub has only a test split (285 rows): no train split; use it for evaluation.",
)


@task.converter
def convert(row):
    # decaNLP's schema.txt has a hand-written question per sentence and appends the two
    # options as f' {a} or {b}?'. HF rows have no such question, so it is built from the
    # pronoun and the quoted phrase around it, in the same shape.
    a, b = (o.strip() for o in row["options"])
    question = f'Who or what is "{row["pronoun"]}" in "{row["quote"].strip()}"? {a} or {b}?'
    return {"context": row["text"].strip(), "question": question,
            "answer": row["options"][row["label"]].strip()}
