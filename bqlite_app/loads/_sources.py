"""The source file as bytes and lines, read in bounded pieces, with progress counted as it goes.

``Progress`` is whatever keeps a ``position`` (the ``Reader``): ``CountedFile`` adds each byte read to it, and
``json_chunks`` sets it to the file offset after each chunk. Detection passes none: it reads only the start.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from bqlite_app.errors import ValidationFailed
from bqlite_app.loads.spec import LoadSpec

# BigQuery's largest JSON row; a longer line is refused rather than held in memory whole.
MAX_LINE_CHARS = 100 << 20


class Progress(Protocol):
    position: int


def arrow_message(exc: BaseException, limit: int = 300) -> str:
    """pyarrow's (or fastavro's) message on one line, cut, and printable (it may quote a whole row of binary
    garbage)."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(str(exc).split()))
    return text if len(text) <= limit else text[:limit - 3] + "..."


class CountedFile(io.RawIOBase):
    """The file, counting bytes read into ``progress.position``."""

    def __init__(self, path: Path, progress: Progress | None) -> None:
        super().__init__()
        self._file: BinaryIO = path.open("rb")
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(buffer)
        if self._progress is not None and count:
            self._progress.position += count
        return count or 0

    def close(self) -> None:
        self._file.close()
        super().close()

    def __enter__(self) -> CountedFile:
        return self


def json_chunks(path: Path, spec: LoadSpec, progress: Progress | None, max_lines: int,
                max_chars: int) -> Iterator[tuple[list[str], int]]:
    """(lines, number of the first line) of at most ``max_lines`` lines or about ``max_chars`` characters."""
    codec = "utf-8-sig" if spec.codec == "utf-8" else spec.codec
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=codec, newline="\n")
        lines: list[str] = []
        size = 0
        first = number = 1
        try:
            while line := text.readline(MAX_LINE_CHARS):
                if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
                    raise ValidationFailed(f"Error while reading JSON data: line {number} is longer than "
                                           f"{MAX_LINE_CHARS:,} characters")
                lines.append(line)
                size += len(line)
                number += 1
                if len(lines) >= max_lines or size >= max_chars:
                    if progress is not None:
                        progress.position = raw.tell()
                    yield lines, first
                    lines, size, first = [], 0, number
        except UnicodeDecodeError as exc:
            raise ValidationFailed(f"Error while reading JSON data: line {number} is not valid "
                                   f"{spec.encoding} ({exc.reason})") from None
        if lines:
            yield lines, first
