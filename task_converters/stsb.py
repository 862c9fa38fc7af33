"""STS-B (GLUE): how similar in meaning are two sentences, on a 0-5 scale?"""
from decaqa import Task

# Source: nyu-mll/glue is plain parquet on main, one folder per config (PR #16 "Convert dataset
# to Parquet", glue.py deleted).
task = Task(
    name="stsb",
    dataset=("nyu-mll/glue", "stsb"),
    questions=["How similar are sentence 1 and sentence 2, from 0 to 5?",
               "On a scale from 0 to 5, how close in meaning are sentence 1 and sentence 2?",
               "What is the similarity of sentence 1 and sentence 2, from 0 to 5?"],
    metric=["pearson", "spearman"],
    description="Semantic Textual Similarity Benchmark; the answer is the score, one decimal.",
)


@task.converter
def convert(row):
    if row["label"] < 0:            # GLUE test rows are unlabeled (-1)
        return None
    return {"context": f'Sentence 1: "{row["sentence1"]}" Sentence 2: "{row["sentence2"]}"',
            "answer": f'{row["label"]:.1f}'}
