"""WikiSQL: translate a question about one table into SQL (decaNLP's wikisql task)."""
from decaqa import Task
from decaqa.formats import AGG_OPS, COND_OPS, query_repr, sql_conditions

# Source: Salesforce/wikisql is a script data set (one config); its parquet export
# refs/convert/parquet holds default/{train,validation,test} (hub commits "Update parquet files").
# Row schema from the HF script: question, table{header,...}, sql{sel, agg, conds{column_index,
# operator_index, condition}} (huggingface/datasets datasets/wikisql/wikisql.py).
task = Task(
    name="wikisql",
    dataset="Salesforce/wikisql",
    revision="refs/convert/parquet",
    questions=["What is the translation from English to SQL?",
               "What is the SQL query for this question?",
               "How is this question written in SQL?",
               "What SQL query answers this question?"],
    # lfem is decaNLP's rule (WHERE conditions in order) and the decaScore's; lfem_unordered is
    # WikiSQL's own logical-form accuracy (conditions as a set), reported beside it.
    metric=["lfem", "lfem_unordered"],
    description="WikiSQL (Zhong et al. 2017); context: the table's columns and the question.",
    note="Hub copy is the parquet export of the script data set; if it does not load, pass "
         "data_files= in the HF schema (question, table.header, sql.sel/agg/conds).",
)

SYMS = ["SELECT", "WHERE", "AND", "COL", "TABLE", "CAPTION", "PAGE", "SECTION", "OP", "COND",
        "QUESTION", "AGG", "AGGOPS", "CONDOPS"]
KEY_WORDS = ", ".join(list(AGG_OPS[1:]) + list(COND_OPS) + SYMS)  # decaNLP's context


@task.converter
def convert(row):
    header, sql = list(row["table"]["header"]), row["sql"]
    context = (f"The table has columns {', '.join(header)} and key words {KEY_WORDS}"
               f"-- {row['question']}")    # decaNLP puts no space before '--'
    return {"context": context,
            "answer": query_repr(sql["sel"], sql["agg"], header, sql_conditions(sql["conds"])),
            "meta": {"header": header}}
