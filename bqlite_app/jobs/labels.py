"""Job labels: the limits BigQuery sets, checked once here for every face (REST, UI, CLI through REST).

Labels are stored as JSON and shown in every job listing, so one bad label breaks the listing for everyone: a lone
surrogate cannot be encoded as UTF-8, and thousands of large labels bloat every page of ``GET /jobs``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bqlite_app.errors import ValidationFailed

MAX_LABELS = 64
MAX_VALUE_CHARS = 1024
# BigQuery's rule for keys (its international lowercase letters aside): a lowercase letter, then at most 62 more.
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_SHOWN_CHARS = 40


class LabelError(ValueError):
    """A label breaks a limit; ``str()`` says which and is safe to echo (the offending text is escaped)."""


def check_labels(labels: Mapping[Any, Any]) -> dict[str, str]:
    """Return the labels as a plain dict, or raise ``LabelError`` naming the first problem."""
    if not isinstance(labels, Mapping):
        raise LabelError("labels must be an object of string keys to string values")
    if len(labels) > MAX_LABELS:
        raise LabelError(f"at most {MAX_LABELS} labels are allowed, got {len(labels):,}")
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise LabelError(f"label {_show(key)}: keys and values must be strings")
        if not KEY_PATTERN.fullmatch(key):
            raise LabelError(
                f"label key {_show(key)} must start with a lowercase letter and contain only lowercase letters, "
                "digits, '_' and '-' (at most 63 characters)")
        if len(value) > MAX_VALUE_CHARS:
            raise LabelError(
                f"the value of label {key!r} is {len(value):,} characters; the limit is {MAX_VALUE_CHARS:,}")
        if not _is_valid_unicode(value):
            raise LabelError(f"the value of label {key!r} is not valid Unicode (it contains a lone surrogate)")
    return dict(labels)


def validate_labels(labels: Mapping[Any, Any]) -> dict[str, str]:
    """``check_labels`` for the core: a problem is ``ValidationFailed`` (422 ``VALIDATION_FAILED``)."""
    try:
        return check_labels(labels)
    except LabelError as exc:
        raise ValidationFailed(f"labels: {exc}") from None


def _is_valid_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show(value: object) -> str:
    # repr() escapes surrogates and control characters, so the message itself always encodes; long keys are cut.
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
