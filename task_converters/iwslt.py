"""IWSLT 2017 English -> German translation of TED talk transcripts (decaNLP's iwslt.en.de)."""
from decaqa import Task

# Source: IWSLT/iwslt2017 is a script data set; its parquet export (refs/convert/parquet) holds
# iwslt2017-en-de/{train,validation,test}/0000.parquet (hub commit ada3f7e "Update parquet files").
task = Task(
    name="iwslt",
    dataset=("IWSLT/iwslt2017", "iwslt2017-en-de"),
    revision="refs/convert/parquet",
    questions=["Translate from English to German",
               "Translate this English text into German.",
               "What is the German translation of this English text?",
               "How would you say this in German?"],
    metric="bleu",
    description="IWSLT 2017 TED talks, English source, German target.",
    note="Hub copy is the parquet export, which has no dataset card: datasets 5 reaches the "
         "config as data_dir='iwslt2017-en-de'; or pass data_files= in the HF schema "
         "({'translation': {'en', 'de'}}).",
)


@task.converter
def convert(row):
    # decaNLP strips both sides and drops pairs where either side is empty.
    source, target = row["translation"]["en"].strip(), row["translation"]["de"].strip()
    if not source or not target:
        return None
    return {"context": source, "answer": target}
