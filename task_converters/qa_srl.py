"""QA-SRL: semantic role labelling as questions about a sentence's predicate (decaNLP's srl)."""
from decaqa import Task

# Source: luheng/qa_srl is a script data set (one config, plain_text); its parquet export
# refs/convert/parquet holds plain_text/{split} files (hub: luheng/qa_srl commits on that branch).
task = Task(
    name="qa_srl",
    dataset="luheng/qa_srl",
    revision="refs/convert/parquet",
    metric="nf1",
    description="QA-SRL (He et al. 2015); each row asks one question about one predicate.",
    note="Hub copy is the parquet export of the script data set; if it does not load, pass "
         "data_files= in the HF schema (sentence, sent_id, predicate_idx, predicate, "
         "question[8 slots], answers).",
)

# decaNLP's SRL.clean, in its order. (decaNLP kept these in sets, so their order, which
# matters only for "n't" right before punctuation, varied with the hash seed.)
CLOSING = [" .", " ,", " ;", " !", " ?", " :", " )", " 'll", " n't ", " %", " 't", " 's", " 'm",
           " 'd", " 're"]
REPLACE = [("-LRB-", "("), ("-RRB-", ")"), ("-LAB-", "<"), ("-RAB-", ">"), ("-AMP-", "&"),
           ("%pw", " ")]


def clean(s):
    s = " ".join(s.split()).strip()
    for old, new in REPLACE:
        s = s.replace(old, new)
    for p in CLOSING:
        s = s.replace(p, p.lstrip())
    for p in ("( ", "$ "):
        s = s.replace(p, p.rstrip())
    s = s.replace(" - ", "-")
    for p in ("``", "`", "''", "\u201c", "\u201d", " '"):
        s = s.replace(p, "")
    return " ".join(s.split()).strip()


def fit_case(answer, context):
    """decaNLP's repair of answers whose first letter's case differs from the sentence."""
    if answer in context or not answer:
        return answer
    for a in (answer[0].lower() + answer[1:], answer[0].upper() + answer[1:], answer.lower()):
        if a in context:
            return a
    return answer


@task.converter
def convert(row):
    # The .qa line decaNLP read is the 8 question slots then the answers; it kept the text
    # before '?', dropped the empty "_" slots (replace(' _', '')), added '?' and cleaned it.
    context = clean(row["sentence"])
    question = clean(" ".join(row["question"]).split("?")[0].replace(" _", "") + "?")
    answers = [fit_case(clean(a), context) for a in row["answers"]]
    return {"context": context, "question": question, "answer": answers,
            "id": f'{row["sent_id"]}/{row["predicate_idx"]}/{question}'}
