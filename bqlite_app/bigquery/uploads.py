"""Load-job uploads as google-cloud-bigquery sends them, spooled to disk in bounded memory.

- ``uploadType=multipart``: one ``multipart/related`` body, the job resource (JSON) then the data.
- ``uploadType=resumable``: a session POST carrying the job resource answers 200 with an absolute ``Location``; each
  ``PUT`` of a chunk with ``Content-Range: bytes a-b/*`` answers 308 with ``Range: bytes=0-b``; the last one
  (``bytes a-b/total``) answers 200 with the job. A ``PUT`` with ``bytes */*`` asks how much has arrived.

Sessions live under ``{data_dir}/bigquery-uploads``: their ids are unguessable, belong to the user who opened them,
and every byte is counted against ``BQLITE_MAX_INGEST_BYTES``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery.errors import BigQueryError, invalid, not_found

# Disk writes happen in the thread pool, this many bytes at a time, so the event loop never waits on the disk.
WRITE_BLOCK = 1024 * 1024
MAX_METADATA_BYTES = 1024 * 1024
# A resumable session untouched this long is abandoned (Google keeps theirs for a week; a day is plenty locally).
ABANDONED_AFTER_S = 24 * 3600
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32,64}")
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


@dataclass
class Upload:
    """A finished upload: the job resource the client sent and its data on disk (the caller owns the file)."""

    metadata: dict[str, Any]
    path: Path
    size: int


class UploadTooLarge(BigQueryError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "invalid", f"The upload is over the server's limit of {limit:,} bytes "
                                         "(BQLITE_MAX_INGEST_BYTES)")


def uploads_dir(data_dir: Path) -> Path:
    path = data_dir / "bigquery-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse_metadata(raw: bytes) -> dict[str, Any]:
    try:
        metadata = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"The job resource is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise invalid("The job resource must be a JSON object")
    return metadata


class _Spool:
    """Appends to a file from async code: buffered, written from a worker thread, size-capped."""

    def __init__(self, path: Path, limit: int, already: int = 0) -> None:
        self.path = path
        self.limit = limit
        self.size = already
        self._buffer = bytearray()
        self._file = open(path, "ab")  # noqa: SIM115 (closed in close())

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise UploadTooLarge(self.limit)
        self._buffer += data
        if len(self._buffer) >= WRITE_BLOCK:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            block, self._buffer = bytes(self._buffer), bytearray()
            await anyio.to_thread.run_sync(self._file.write, block)

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            await anyio.to_thread.run_sync(self._file.close)


async def receive_multipart(stream: AsyncIterator[bytes], content_type: str, spool_dir: Path, limit: int) -> Upload:
    """Split a ``multipart/related`` body: the first part is the job resource, the second the data."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/related" or not boundary:
        raise invalid("A multipart upload needs Content-Type multipart/related with a boundary")
    parts: list[bytearray | _Spool] = []
    fd, name = tempfile.mkstemp(dir=spool_dir, suffix=".upload")
    os.close(fd)
    data = _Spool(Path(name), limit)
    pending: list[bytes] = []

    def on_part_begin() -> None:
        parts.append(bytearray() if not parts else data)
        if len(parts) > 2:
            raise invalid("A multipart upload has exactly two parts: the job resource, then the data")

    def on_part_data(buffer: bytes, start: int, end: int) -> None:
        current = parts[-1]
        if isinstance(current, bytearray):
            current += buffer[start:end]
            if len(current) > MAX_METADATA_BYTES:
                raise invalid("The job resource part is too large")
        else:
            pending.append(bytes(buffer[start:end]))

    parser = MultipartParser(boundary, {"on_part_begin": on_part_begin, "on_part_data": on_part_data})
    try:
        async for chunk in stream:
            parser.write(chunk)
            for block in pending:
                await data.write(block)
            pending.clear()
        parser.finalize()
        await data.close()
    except BaseException:
        await data.close()
        data.path.unlink(missing_ok=True)
        raise
    if len(parts) != 2:
        data.path.unlink(missing_ok=True)
        raise invalid("A multipart upload has exactly two parts: the job resource, then the data")
    metadata = parse_metadata(bytes(parts[0]))  # type: ignore[arg-type]
    return Upload(metadata=metadata, path=data.path, size=data.size)


class ResumableSessions:
    """Resumable upload sessions on disk: ``{id}.json`` (owner and job resource) and ``{id}.part`` (the bytes)."""

    def __init__(self, spool_dir: Path, limit: int) -> None:
        self._dir = spool_dir
        self._limit = limit

    def open(self, metadata: dict[str, Any], user: Principal) -> str:
        self.cleanup(ABANDONED_AFTER_S)  # a directory scan per new session keeps abandoned ones from piling up
        upload_id = secrets.token_urlsafe(32)
        record = {"owner": user.user_id, "metadata": metadata}
        (self._dir / f"{upload_id}.part").touch()
        (self._dir / f"{upload_id}.json").write_text(json.dumps(record))
        return upload_id

    def _paths(self, upload_id: str, user: Principal) -> tuple[Path, dict[str, Any]]:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise not_found(f"Upload session {upload_id[:64]!r}")
        record_path = self._dir / f"{upload_id}.json"
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            raise not_found("Upload session") from None
        if record.get("owner") != user.user_id:
            raise not_found("Upload session")  # someone else's session answers as a missing one
        return self._dir / f"{upload_id}.part", record

    async def put(self, upload_id: str, user: Principal, content_range: str | None,
                  stream: AsyncIterator[bytes]) -> tuple[int, Upload | None]:
        """Append one chunk. Returns (bytes received so far, the finished upload when this was the last piece)."""
        part, record = await anyio.to_thread.run_sync(self._paths, upload_id, user)
        received = part.stat().st_size
        first, last, total = _parse_range(content_range)
        if first is not None and first != received:
            raise BigQueryError(400, "invalid", f"Content-Range starts at {first}, but {received} bytes have "
                                                 "arrived; resume from there")
        spool = _Spool(part, self._limit, already=received)
        try:
            async for chunk in stream:
                await spool.write(chunk)
        finally:
            await spool.close()
        if first is not None and last is not None and spool.size != last + 1:
            raise invalid(f"Content-Range says bytes {first}-{last}, but the body ended at byte {spool.size - 1}")
        if total is None or spool.size < total:
            return spool.size, None
        if spool.size != total:
            raise invalid(f"The upload is {spool.size} bytes, but Content-Range promised {total}")
        finished = self._dir / f"{upload_id}.done"
        part.rename(finished)
        (self._dir / f"{upload_id}.json").unlink(missing_ok=True)
        return spool.size, Upload(metadata=record["metadata"], path=finished, size=spool.size)

    def cleanup(self, max_age_s: float) -> None:
        """Remove the files of sessions nobody has touched for ``max_age_s``."""
        cutoff = time.time() - max_age_s
        for path in self._dir.glob("*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except OSError:
                continue


def _parse_range(header: str | None) -> tuple[int | None, int | None, int | None]:
    """``bytes a-b/total``, ``bytes a-b/*`` or ``bytes */total`` (an empty last piece)."""
    if header is None:
        return None, None, None
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        raise invalid(f"Malformed Content-Range {header[:80]!r}")
    first, last, total = match.groups()
    if first is not None and int(last) < int(first):
        raise invalid(f"Malformed Content-Range {header[:80]!r}")
    return (int(first) if first is not None else None, int(last) if last is not None else None,
            int(total) if total != "*" else None)
