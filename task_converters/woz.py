"""WOZ 2.0: dialogue state tracking, one triple per turn (decaNLP's woz.en task)."""
from decaqa import Task
from decaqa.formats import format_woz_answer

# Source: PolyAI/woz_dialogue is a script data set; its parquet export refs/convert/parquet holds
# en/{train,validation,test} (hub: PolyAI/woz_dialogue commits on refs/convert/parquet/en).
task = Task(
    name="woz",
    dataset=("PolyAI/woz_dialogue", "en"),
    revision="refs/convert/parquet",
    questions=["What is the change in state?",
               "What changed in the dialogue state?",
               "How does this turn change the dialogue state?",
               "What does this turn add to the dialogue state?"],
    metric="dsem",
    description="Wizard-of-Oz restaurant dialogues (English); one HF row is one dialogue.",
    note="Hub copy is the parquet export, which has no dataset card: datasets 5 reaches the "
         "config as data_dir='en'; or pass data_files= in the HF schema (dialogue_idx, dialogue).",
)


@task.converter
def convert(row):
    # decaNLP's WOZ.cache_splits. Context: the system acts ("slot" or "slot: value", joined
    # by ", ") then " -- " then the user's transcript. Answer: the informs that are new this
    # turn and the requested slots, in decaNLP's answer format (decaqa.formats).
    examples, previous = [], []
    for turn_idx, turn in enumerate(row["dialogue"]):
        acts = ", ".join(a if isinstance(a, str) else ": ".join(a) for a in turn["system_acts"])
        context = (acts + " -- " if acts else "") + turn["transcript"]
        informs, requests, current = [], [], []
        for item in turn["belief_state"]:
            for slot in item["slots"]:
                if item["act"] == "inform":
                    current.append(list(slot))
                    if list(slot) not in previous:
                        informs.append(slot)
                else:
                    requests.append(slot[1])
        previous = current
        examples.append({"context": " ".join(context.split()),
                         "answer": format_woz_answer([(s[0], s[1]) for s in informs], requests),
                         "id": f'{row["dialogue_idx"]}-{turn_idx}',
                         "meta": {"dialogue_id": str(row["dialogue_idx"]), "turn": turn_idx}})
    return examples
