"""The sandbox's rules for DuckDB statements (docs/api.md, "What user SQL may do")."""

from __future__ import annotations

from bqlite_app.access._rules import Limits, Refusal, looks_like_a_path
from engines.base import Statement

# Statement types that touch files, extensions or settings, whatever they say.
_REFUSED_KINDS = {
    "COPY": ("COPY", "it reads or writes server files"),
    "EXPORT": ("EXPORT DATABASE", "it writes server files"),
    "COPY_DATABASE": ("COPY FROM DATABASE", "it copies whole databases"),
    "ATTACH": ("ATTACH", "it opens other database files"),
    "DETACH": ("DETACH", "it changes the attached databases"),
    "LOAD": ("INSTALL/LOAD", "it installs or loads extensions"),
    "VARIABLE_SET": ("SET VARIABLE", "it changes session state"),
    "EXTENSION": ("an extension statement", "it runs extension code"),
    "LOGICAL_PLAN": ("a logical plan statement", "it is internal to DuckDB"),
    "RELATION": ("a relation statement", "it is internal to DuckDB"),
    "UNKNOWN": ("this statement type", "the sandbox does not recognise it"),
    "INVALID": ("this statement type", "the sandbox does not recognise it"),
}
# Words that, leading a statement of an allowed type, still mean one of the refused things (``EXPLAIN ANALYZE COPY``,
# ``PREPARE p AS ATTACH``, ``IMPORT DATABASE`` which DuckDB reports as a PRAGMA).
_REFUSED_LEADING_WORDS = {
    "COPY": "it reads or writes server files", "ATTACH": "it opens other database files",
    "DETACH": "it changes the attached databases", "INSTALL": "it installs extensions",
    "LOAD": "it loads extensions", "SET": "it changes engine settings", "RESET": "it changes engine settings",
    "PRAGMA": "it can change engine settings", "EXPORT": "it writes server files",
    "IMPORT": "it reads server files", "CHECKPOINT": "it forces storage maintenance",
    "SECRET": "it manages credentials for external storage",
}
_CREATE_MODIFIERS = {"CREATE", "DROP", "OR", "REPLACE", "PERSISTENT", "TEMPORARY", "TEMP", "IF", "NOT", "EXISTS"}
# PRAGMAs that only look at the catalog.
_READ_ONLY_PRAGMAS = {
    "TABLE_INFO", "SHOW_TABLES", "SHOW_TABLES_EXPANDED", "SHOW", "DATABASE_SIZE", "STORAGE_INFO", "VERSION",
    "PLATFORM", "FUNCTIONS", "COLLATIONS", "DATABASE_LIST", "SHOW_DATABASES",
}
# Functions that read files or the environment, run SQL hidden in a string, or touch storage and credentials.
_FILE_READERS = {
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto", "read_json_objects",
    "read_json_objects_auto", "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_text", "read_blob",
    "glob", "sniff_csv", "parquet_metadata", "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata",
    "parquet_bloom_probe", "read_xlsx", "read_avro",
}
_REFUSED_FUNCTIONS = {
    "getenv": "it reads the server's environment",
    "query": "it runs SQL hidden in a string", "query_table": "it reads tables named in a string",
    "json_execute_serialized_sql": "it runs SQL hidden in a string",
    "checkpoint": "it forces storage maintenance", "force_checkpoint": "it forces storage maintenance",
    "duckdb_secrets": "it lists credentials", "which_secret": "it looks up credentials",
    "load_aws_credentials": "it reads credentials",
}
_REFUSED_PREFIXES = (
    "read_", "parquet_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_", "ducklake_", "azure_", "s3_",
    "enable_", "disable_", "install_", "load_", "copy_",
)


def judge(statement: Statement, limits: Limits) -> Refusal | None:
    words = statement.words
    lead = words[0] if words else ""
    if statement.kind in _REFUSED_KINDS:
        construct, reason = _REFUSED_KINDS[statement.kind]
        return Refusal(lead if statement.kind == "LOAD" and lead else construct, reason)
    if statement.kind == "SET" and lead != "USE":
        # DuckDB reports "PRAGMA name = value" as a SET too.
        construct = f"PRAGMA {words[1].lower()}" if lead == "PRAGMA" and len(words) > 1 else lead or "SET"
        return Refusal(construct, "it changes engine settings")
    if statement.kind == "PRAGMA":
        name = words[1] if len(words) > 1 else ""
        if lead != "PRAGMA":
            return Refusal(" ".join(words[:2]), _REFUSED_LEADING_WORDS.get(lead, "it reaches outside the tables"))
        if name not in _READ_ONLY_PRAGMAS:
            return Refusal(f"PRAGMA {name.lower()}", "it can change engine settings")
    if statement.kind == "CALL" and not (len(words) > 1 and words[1].startswith(("PRAGMA_", "DUCKDB_"))):
        return Refusal(" ".join(words[:2]) or "CALL", "only catalog functions may be called")
    nested = _nested_refusal(statement.kind, words)
    if nested is not None:
        return nested
    for function in statement.functions:
        refusal = _judge_function(function, limits)
        if refusal is not None:
            return refusal
    for table in statement.tables:
        if looks_like_a_path(table) and not limits.files_readable:
            return Refusal(f"the table name '{table}'", "DuckDB would read it as a file or URL")
    return None


def _nested_refusal(kind: str, words: tuple[str, ...]) -> Refusal | None:
    """``EXPLAIN ANALYZE`` and ``PREPARE`` wrap another statement; ``CREATE``/``DROP SECRET`` are CREATE and DROP."""
    if kind in {"CREATE", "DROP"}:
        # Only the modifiers may stand between CREATE and SECRET: "CREATE TABLE secret" is a table.
        head = [word for word in words if word not in _CREATE_MODIFIERS][:1]
        return Refusal(" ".join(words[: words.index("SECRET") + 1]), _REFUSED_LEADING_WORDS["SECRET"]) \
            if head == ["SECRET"] else None
    if kind in {"EXPLAIN", "PREPARE"}:
        for index, word in enumerate(words[:5]):
            if word in _REFUSED_LEADING_WORDS:
                return Refusal(" ".join(words[: index + 1]), _REFUSED_LEADING_WORDS[word])
    return None


def _judge_function(name: str, limits: Limits) -> Refusal | None:
    if name in _FILE_READERS:
        return None if limits.files_readable else Refusal(f"{name}()", "it reads server files")
    if name in _REFUSED_FUNCTIONS:
        return Refusal(f"{name}()", _REFUSED_FUNCTIONS[name])
    if name.startswith(_REFUSED_PREFIXES):
        return Refusal(f"{name}()", "it reaches files, credentials or settings")
    return None
