"""The sandbox's rules for ClickHouse statements (docs/api.md, "What user SQL may do")."""

from __future__ import annotations

import re

from bqlite_app.access._rules import Limits, Refusal
from engines.base import Statement

# Statement classes (the first word of ``EXPLAIN AST``) that read, or change only tables and databases.
_ALLOWED_CLASSES = (
    "Select", "Show", "Describe", "Explain", "Exists", "Check", "InsertQuery", "CreateQuery", "AlterQuery",
    "DropQuery", "Rename", "OptimizeQuery", "TruncateQuery", "DeleteQuery", "UpdateQuery", "UndropQuery",
    "CreateSQLFunctionQuery", "DropFunctionQuery", "CreateIndexQuery", "DropIndexQuery",
)
_WHY_NOT = {
    "SYSTEM": "it controls the server", "KILL": "it stops other queries", "SET": "it changes engine settings",
    "USE": "it changes the shared session's database", "BACKUP": "it writes server files",
    "RESTORE": "it reads server files", "ATTACH": "it attaches data from server paths",
    "DETACH": "it detaches tables from the server", "GRANT": "it manages server access",
    "REVOKE": "it manages server access",
}
_CLAUSES = {
    "INTO OUTFILE": "it writes a server file", "FROM INFILE": "it reads a server file",
    "INTO FUNCTION": "it writes through a table function", "DICTIONARY": "dictionaries load from outside sources",
}
# Table functions, table engines and functions that reach files, the network, other servers or processes.
_OUTSIDE = {
    "file", "filecluster", "url", "urlcluster", "s3", "s3cluster", "s3queue", "gcs", "oss", "cosn", "hdfs",
    "hdfscluster", "remote", "remotesecure", "cluster", "clusterallreplicas", "mysql", "postgresql", "jdbc", "odbc",
    "executable", "executablepool", "azureblobstorage", "azureblobstoragecluster", "azurequeue", "mongodb", "redis",
    "sqlite", "input", "python", "disk", "iceberg", "icebergs3", "icebergazure", "iceberghdfs", "iceberglocal",
    "icebergcluster", "icebergs3cluster", "deltalake", "deltalakecluster", "deltalakelocal", "deltalakes3",
    "deltalakeazure", "hudi", "hudicluster", "hive", "kafka", "rabbitmq", "nats", "filelog", "arrowflight",
    "ytsaurus", "materializedmysql", "materializedpostgresql", "distributed", "filesystem", "fuzzjson", "fuzzquery",
}
# Engines a CREATE may declare: storage that lives inside the engine's own data directory.
_LOCAL_ENGINES = {
    "Memory", "Log", "TinyLog", "StripeLog", "Null", "Set", "Join", "Buffer", "Merge", "GenerateRandom", "View",
    "Atomic", "Lazy", "Ordinary",
}
_SYSTEM_DATABASES = re.compile(r"(?<![\w.`])`?(system|information_schema)`?(?:\.|\s|$)", re.I)
# Settings a statement must leave alone, and the ones whose value is a limit it may only lower.
_UNTOUCHABLE_SETTINGS = {"readonly", "allow_ddl", "allow_introspection_functions", "dialect", "user_files_path"}


def judge(statement: Statement, limits: Limits) -> Refusal | None:
    lead = statement.words[0] if statement.words else ""
    if statement.clauses:
        return Refusal(statement.clauses[0], _CLAUSES[statement.clauses[0]])
    if not statement.kind.startswith(_ALLOWED_CLASSES):
        return Refusal(lead or statement.kind, _WHY_NOT.get(lead, "it reaches beyond the engine's tables"))
    for function in statement.functions:
        if function in _OUTSIDE:
            return Refusal(f"{function}()", "it reaches files, the network or other servers")
    for engine in statement.storage:
        if not (engine in _LOCAL_ENGINES or engine.endswith("MergeTree")):
            return Refusal(f"ENGINE = {engine}", "only engines that keep data inside ClickHouse are allowed")
    if not statement.reads_only and _SYSTEM_DATABASES.search(_without_strings(statement.text)):
        return Refusal(f"{lead} on a system database", "the system databases may only be read")
    for name, value in statement.settings:
        refusal = _judge_setting(name, value, limits)
        if refusal is not None:
            return refusal
    return None


def _judge_setting(name: str, value: str, limits: Limits) -> Refusal | None:
    lowered = name.lower()
    construct = f"SETTINGS {name} = {value}"
    if lowered in _UNTOUCHABLE_SETTINGS:
        return Refusal(construct, "it changes the sandbox itself")
    if lowered.endswith("_overflow_mode"):
        return None if value.strip("'").lower() == "throw" else Refusal(construct, "it turns a limit off")
    if not (lowered.startswith("max_") or lowered.startswith("timeout_")):
        return None
    number = _number(value)
    if number is None or number <= 0:
        return Refusal(construct, "it removes a limit")
    ceiling = {"max_execution_time": limits.max_execution_time_s, "max_memory_usage": limits.max_memory_bytes,
               "max_threads": limits.max_threads}.get(lowered)
    if ceiling is not None and number > ceiling:
        return Refusal(construct, f"it raises a limit above the server's ({ceiling:g})")
    return None


def _number(value: str) -> float | None:
    try:
        return float(value.strip("'"))
    except ValueError:
        return None


def _without_strings(text: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.|'')*'", "''", text)
