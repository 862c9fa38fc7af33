"""CNN / Daily Mail: abstractive news summarisation (decaNLP's cnn_dailymail task)."""
import unicodedata

from decaqa import Task

# Source: abisee/cnn_dailymail is plain parquet on main, configs 1.0.0/2.0.0/3.0.0 (hub PR #7
# "Convert dataset to Parquet", loading script deleted).
task = Task(
    name="cnn_dailymail",
    dataset=("abisee/cnn_dailymail", "3.0.0"),
    questions=["What is the summary?",
               "What is a short summary of this article?",
               "How would you summarize this article?",
               "What are the main points of this article?"],
    metric="rouge",
    description="Non-anonymised CNN and Daily Mail stories with their highlight sentences.",
)

# decaNLP (after abisee/cnn-dailymail make_datafiles.py) adds a period to highlight lines
# that lack one; HF 3.0.0 already did so, and doing it again changes nothing.
END_TOKENS = [".", "!", "?", "...", "'", "`", '"', "\u2019", "\u201d", ")"]


def fix_missing_period(line):
    return line if not line or line[-1] in END_TOKENS else line + "."


@task.converter
def convert(row):
    # decaNLP joins the highlight sentences with spaces (HF joins them with "\n") and
    # NFKC-normalises both sides.
    lines = [fix_missing_period(s.strip()) for s in row["highlights"].split("\n") if s.strip()]
    return {"context": unicodedata.normalize("NFKC", row["article"]),
            "answer": unicodedata.normalize("NFKC", " ".join(lines))}
