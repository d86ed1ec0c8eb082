"""What a registration may upload and where it may land (docs/api.md, "Schemas" and "What user SQL may do").

Upload names end up as files in protoc's working directory and as protoc's file argument. protoc reads an argument
starting with ``@`` as a file of more arguments and one starting with ``-`` as an option, so a name like ``@opts``
next to an import ``opts`` holding ``--plugin=...`` ran a command (issue 9). Names are therefore checked against a
plain-path grammar before anything is written or run; ``_protoc`` additionally never puts a name in an option
position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from bqlite_app.datasets import refuse_reserved
from bqlite_app.errors import PayloadTooLarge, ValidationFailed

MAX_IMPORTS = 100                       # docs/api.md: "imports: ... at most 100"
# All files of one registration together. One file's own cap is the setting ``BQLITE_MAX_PROTO_BYTES``, which the
# faces apply as they read an upload (they must bound the read anyway); a second, fixed cap here would silently
# override a larger setting.
MAX_TOTAL_BYTES = 32 * 1024**2

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A segment starts with a letter, digit or underscore: never "-" (an option) or "." ("." / ".." / hidden files),
# and "@" is outside the alphabet altogether.
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_MAX_NAME_CHARS = 512



class _Named(Protocol):
    name: str
    content: bytes


def check_file_name(name: str, *, what: str = "file", proto_suffix: bool = True) -> str:
    """``name`` if it is a plain relative path of ``[A-Za-z0-9_.-]`` segments (ending in ``.proto`` when asked).

    Raises ``ValidationFailed`` naming the rule that failed; the name is never normalized into something else.
    """
    shown = name if len(name) <= 80 else name[:77] + "..."
    if not name:
        raise ValidationFailed(f"{what}: the upload has no file name")
    if len(name) > _MAX_NAME_CHARS:
        raise ValidationFailed(f"{what}: the file name {shown!r} is longer than {_MAX_NAME_CHARS} characters")
    for segment in name.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise ValidationFailed(
                f"{what}: invalid file name {shown!r}: use a relative path of segments made of letters, digits, "
                "'_', '.' and '-', separated by '/', each starting with a letter, digit or '_' (no '.', '..', "
                "absolute paths, spaces or other characters)")
    if proto_suffix and not name.endswith(".proto"):
        raise ValidationFailed(f"{what}: invalid file name {shown!r}: a .proto upload's name must end in .proto")
    return name


def check_upload_sizes(main: _Named, imports: Sequence[_Named]) -> None:
    """The import count and the total byte cap, before any file is parsed, written or compiled (each file was
    held to ``BQLITE_MAX_PROTO_BYTES`` as it was read)."""
    if len(imports) > MAX_IMPORTS:
        raise ValidationFailed(f"imports: {len(imports)} files uploaded; at most {MAX_IMPORTS} are allowed")
    total = sum(len(file.content) for file in (main, *imports))
    if total > MAX_TOTAL_BYTES:
        raise PayloadTooLarge(f"The uploaded files total {total:,} bytes; the limit is {MAX_TOTAL_BYTES:,} bytes")


def check_dataset(database_name: str) -> str:
    """A schema's ``database_name``: an identifier that names no reserved dataset (``bqlite_app.datasets``)."""
    check_identifier("database_name", database_name)
    return refuse_reserved(database_name, field="database_name")


def check_identifier(field: str, value: str) -> str:
    if not IDENTIFIER.fullmatch(value or ""):
        raise ValidationFailed(f"{field}: {value!r} must match ^[A-Za-z_][A-Za-z0-9_]*$")
    return value
