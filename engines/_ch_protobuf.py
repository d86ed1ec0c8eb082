"""ClickHouse's own ``Protobuf`` input format reading a body file on this machine, for ``Engine.read_protobuf``.

Only embedded chdb can do it: ``file()`` reads the app's own files, which a server cannot see. The SQL is the app's,
never user SQL (``file()`` is refused to user SQL), so it runs on a decode client outside the pool
(``ClickHouseEngine.stream_internal``).
"""

from __future__ import annotations

import re

from engines.base import ProtobufRead
from engines.errors import EngineQueryError

_GLOB = re.compile(r"[*?{}]")          # file() expands these in paths


def read_sql(read: ProtobufRead) -> str:
    """The SELECT that decodes ``read.body``; ``EngineQueryError`` for a path ``file()`` would expand."""
    if _GLOB.search(str(read.body)) or _GLOB.search(str(read.schema_file)):
        raise EngineQueryError("the body or schema path has characters file() expands ('*', '?', '{', '}')")
    fmt = "Protobuf" if read.delimited else "ProtobufSingle"
    # Checks run in the inner query, where names are the read columns (outside, the converted aliases shadow them).
    source = (f"SELECT * FROM file({_literal(str(read.body))}, {_literal(fmt)}, "
              f"{_literal(', '.join(read.structure))}, 'none')")
    if read.checks:
        source += f" WHERE throwIf(NOT ({' AND '.join(read.checks)}), {_literal(read.rejected)}) = 0"
    # One stream keeps rows in body order (a resize after the reader could interleave blocks); the Protobuf reader
    # is single-threaded anyway, so this costs nothing.
    return (f"SELECT {', '.join(read.select)} FROM ({source}) SETTINGS format_schema = "
            f"{_literal(f'{read.schema_file}:{read.message}')}, max_threads = 1, "
            "parallelize_output_from_storages = 0, storage_file_read_method = 'pread'")


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
