"""WikiSQL: translate a question about one table into SQL (decaNLP's wikisql task)."""
from collections.abc import Mapping

from decaqa import Task

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

# decaNLP's Query (after salesforce/WikiSQL lib/query.py).
AGG_OPS = ["", "MAX", "MIN", "COUNT", "SUM", "AVG"]
COND_OPS = ["=", ">", "<", "OP"]
SYMS = ["SELECT", "WHERE", "AND", "COL", "TABLE", "CAPTION", "PAGE", "SECTION", "OP", "COND",
        "QUESTION", "AGG", "AGGOPS", "CONDOPS"]
KEY_WORDS = ", ".join(AGG_OPS[1:] + COND_OPS + SYMS)


def conditions(conds):
    """(column, operator, value) triples from HF's dict of lists or a list of dicts/triples."""
    if isinstance(conds, Mapping):
        return list(zip(conds["column_index"], conds["operator_index"], conds["condition"]))
    return [(c["column_index"], c["operator_index"], c["condition"]) if isinstance(c, Mapping)
            else tuple(c) for c in conds]


def query_repr(sel, agg, header, conds):
    """decaNLP's repr(Query): 'SELECT {agg} {col} FROM table [WHERE col op value AND ...]'."""
    rep = f"SELECT {AGG_OPS[agg]} {header[sel]} FROM table"
    if conds:
        rep += " WHERE " + " AND ".join(f"{header[i]} {COND_OPS[o]} {v}" for i, o, v in conds)
    return " ".join(rep.split())


@task.converter
def convert(row):
    header, sql = list(row["table"]["header"]), row["sql"]
    context = (f"The table has columns {', '.join(header)} and key words {KEY_WORDS}"
               f"-- {row['question']}")    # decaNLP puts no space before '--'
    return {"context": context,
            "answer": query_repr(sql["sel"], sql["agg"], header, conditions(sql["conds"])),
            "meta": {"header": header}}
