"""QQP (GLUE): do two Quora questions ask the same thing?"""
from decaqa import Task

# Source: nyu-mll/glue is plain parquet on main, one folder per config (PR #16 "Convert dataset
# to Parquet", glue.py deleted).
task = Task(
    name="qqp",
    dataset=("nyu-mll/glue", "qqp"),
    questions=["Do question 1 and question 2 ask the same thing? yes or no?",
               "Are these two questions duplicates? yes or no?",
               "Is question 2 a paraphrase of question 1? yes or no?"],
    choices=["no", "yes"],          # HF label 0 not_duplicate, 1 duplicate
    metric=["em", "f1:yes"],        # accuracy, and F1 of the positive class "yes", as GLUE
    description="Quora Question Pairs.",
)


@task.converter
def convert(row):
    if row["label"] < 0:            # GLUE test rows are unlabeled
        return None
    return {"context": f'Question 1: "{row["question1"]}" Question 2: "{row["question2"]}"',
            "answer": task.choices[row["label"]]}
