"""Winograd Schema Challenge: resolve a pronoun by commonsense (decaNLP's schema/MWSC task)."""
from decaqa import Task

# Source: ErnestSDavis/winograd_wsc is a script data set; coref-data/davis_wsc_raw is a parquet
# duplicate of it with YAML configs (wsc285/test-00000-of-00001.parquet; same features text,
# pronoun, pronoun_loc, quote, quote_loc, options, label, source), loadable as (name, config).
task = Task(
    name="wsc",
    dataset=("coref-data/davis_wsc_raw", "wsc285"),
    # decaNLP's schema.txt has a hand-written question per sentence and appends the two
    # options as f' {a} or {b}?'. HF rows have no such question, so it is built from the
    # pronoun and the quoted phrase around it, in the same shape; the others are paraphrases.
    questions=['Who or what is "{pronoun}" in "{quote}"? {a} or {b}?',
               'In "{quote}", who or what does "{pronoun}" refer to? {a} or {b}?',
               'Who or what does "{pronoun}" stand for in "{quote}"? {a} or {b}?',
               'In "{quote}", is "{pronoun}" {a} or {b}?'],
    metric="em",
    splits={"validation": "test", "test": "test"},
    description="WSC285 (Davis); decaNLP's MWSC schemas are a different, hand-written set.",
    note="The hub has only a test split (285 rows): no train split; use it for evaluation.",
)


@task.converter
def convert(row):
    a, b = (o.strip() for o in row["options"])
    fields = {"pronoun": row["pronoun"], "quote": row["quote"].strip(), "a": a, "b": b}
    return {"context": row["text"].strip(), "fields": fields,
            "answer": row["options"][row["label"]].strip()}
