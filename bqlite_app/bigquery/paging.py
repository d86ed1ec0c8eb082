"""Opaque page tokens: ours carry a row offset, base64-wrapped so clients treat them as the opaque strings they are."""

from __future__ import annotations

import base64

from bqlite_app.bigquery.errors import invalid

# Rows per page of query results and table data when the client does not say: large pages keep a big result to few
# round trips, while one page's JSON stays in the tens of megabytes.
DEFAULT_PAGE_ROWS = 20_000
MAX_PAGE_ROWS = 100_000


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """A forged or damaged token is a 400 ``invalid``, never a 500."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        offset = int(number)
        if prefix != "o" or not 0 <= offset < 2**62:
            raise ValueError(text)
        return offset
    except (ValueError, UnicodeDecodeError):
        raise invalid("pageToken: not a page token this server issued", location="pageToken") from None
