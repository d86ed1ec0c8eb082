"""Split an ingest body into message payloads, reading it in chunks so memory stays bounded.

Each framer yields ``(offset, end, payload, line)``: the byte offset where the message starts (for ``delimited`` the
offset of its length prefix), the offset just past it (past the newline for ``jsonl``), its bytes, and for ``jsonl``
the 1-based line number (else 0). A fault in the framing
itself raises ``FrameError`` with the offset of the message it cut short.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from bqlite_app.schemas._wire import MAX_VARINT_BYTES, WireError, read_varint

CHUNK_BYTES = 1 << 20
# One message may not exceed this: a garbage length prefix must not make us buffer gigabytes.
MAX_MESSAGE_BYTES = 64 << 20

Frame = tuple[int, int, bytes, int]


class FrameError(ValueError):
    def __init__(self, offset: int, reason: str, line: int = 0) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason
        self.line = line


def delimited(source: BinaryIO, chunk: int = CHUNK_BYTES) -> Iterator[Frame]:
    """Varint length prefix + payload, repeated (``writeDelimitedTo``). Payload bytes are opaque: never split on
    newlines."""
    buf = b""
    pos = 0            # read position in buf
    base = 0           # body offset of buf[0]
    eof = False
    while True:
        if len(buf) - pos < MAX_VARINT_BYTES and not eof:
            more = source.read(chunk)
            eof = not more
            buf, base, pos = buf[pos:] + more, base + pos, 0
            continue
        if pos >= len(buf):
            return
        first = buf[pos]
        if first < 0x80:   # one-byte prefix: the common case for event-sized messages
            size, start = first, pos + 1
        else:
            try:
                size, start = read_varint(buf, pos, len(buf))
            except WireError as exc:
                reason = "truncated length prefix" if "truncated" in str(exc) else f"{exc} in the length prefix"
                raise FrameError(base + pos, reason) from None
            if size > MAX_MESSAGE_BYTES:
                raise FrameError(base + pos, f"length prefix declares {size} bytes, over the "
                                             f"{MAX_MESSAGE_BYTES}-byte limit for one message")
        end = start + size
        while end > len(buf) and not eof:
            more = source.read(max(chunk, end - len(buf)))
            eof = not more
            buf, base, start, end, pos = buf[pos:] + more, base + pos, start - pos, end - pos, 0
        if end > len(buf):
            raise FrameError(base + pos, f"truncated message: the length prefix declares {size} bytes but only "
                                         f"{len(buf) - start} remain")
        yield base + pos, base + end, buf[start:end], 0
        pos = end


def single(source: BinaryIO) -> Iterator[Frame]:
    """The whole body is one message (an empty body is a valid, all-default message)."""
    data = _read_at_most(source, MAX_MESSAGE_BYTES + 1)
    if len(data) > MAX_MESSAGE_BYTES:
        raise FrameError(0, f"message over the {MAX_MESSAGE_BYTES}-byte limit")
    yield 0, len(data), data, 0


def jsonl(source: BinaryIO, chunk: int = CHUNK_BYTES) -> Iterator[Frame]:
    """One JSON message per line; blank lines are skipped but counted, so line numbers match an editor's."""
    buf = b""
    pos = 0            # start of the current line in buf
    base = 0           # body offset of buf[0]
    line = 0
    eof = False
    while pos < len(buf) or not eof:
        newline = buf.find(b"\n", pos)
        if newline < 0 and not eof:
            if len(buf) - pos > MAX_MESSAGE_BYTES:
                raise FrameError(base + pos, f"line over the {MAX_MESSAGE_BYTES}-byte limit for one message",
                                 line + 1)
            more = source.read(chunk)
            eof = not more
            buf, base, pos = buf[pos:] + more, base + pos, 0
            continue
        end = newline if newline >= 0 else len(buf)
        line += 1
        text = buf[pos:end]
        after = end + 1 if newline >= 0 else end
        if text.strip():
            yield base + pos, base + after, text, line
        pos = after


def _read_at_most(source: BinaryIO, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while total < limit:
        more = source.read(min(CHUNK_BYTES, limit - total))
        if not more:
            break
        parts.append(more)
        total += len(more)
    return b"".join(parts)
