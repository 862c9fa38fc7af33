"""QA-ZRE: zero-shot relation extraction as reading comprehension (decaNLP's zre task)."""
from decaqa import Task

# Source: community-datasets/qa_zre is plain parquet on main (PR #4 "Convert dataset to
# Parquet", loading script deleted); features relation, question, subject, context, answers.
task = Task(
    name="qa_zre",
    dataset="community-datasets/qa_zre",
    metric="cf1",
    description="Zero-shot relation extraction (Levy et al. 2017); unseen relations at test time.",
)


@task.converter
def convert(row):
    # decaNLP (ZeroShotRE.cache_splits): the relation's question template with XXX replaced
    # by the subject; all answer spans joined by ", " into one answer, or 'unanswerable'.
    answer = ", ".join(a.strip() for a in row["answers"])
    return {"context": row["context"].strip(),
            "question": row["question"].replace("XXX", row["subject"]),
            "answer": answer or "unanswerable"}
