"""BoolQ: naturally occurring yes/no questions about a Wikipedia passage (Clark et al., 2019)."""
from decaqa import Task

# Source: google/boolq is plain parquet on the hub: question (lower-case, no question mark),
# answer (a bool) and passage, splits train and validation.
task = Task(
    name="boolq",
    dataset="google/boolq",
    choices=["no", "yes"],
    metric="em",
    description="BoolQ (SuperGLUE's yes/no reading comprehension).",
)


@task.converter
def convert(row):
    question = " ".join(row["question"].split()).rstrip("?")
    return {"context": row["passage"],
            "question": f"{question[:1].upper()}{question[1:]}? yes or no?",
            "answer": task.choices[bool(row["answer"])]}
