"""How a request wants a stored result: sorted and filtered (``ResultView``), parsed from the text the faces send.

Syntax (every face parses it here, so REST, CLI and UI agree):

- ``order_by``: ``col[:asc|:desc][,col2[:desc]]...``; repeatable. A column name holding ``,`` or ``:`` or that
  starts with ``"`` is written in double quotes, ``""`` for a quote inside.
- ``filter``: ``col:op[:value]``; repeatable, all must hold. ``op`` is one of ``contains`` (case-insensitive text
  match on the value's text), ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (also ``eq ne lt le gt ge``), ``is_null``,
  ``not_null``. The value is everything after the second colon (it may contain colons) and is read as the column's
  type (``2024-01-31`` for a date, ``1.5`` for a number); ``!=`` keeps nulls, the other comparisons do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bqlite_app.errors import ValidationFailed

MAX_SORT_KEYS = 8
MAX_FILTERS = 16
MAX_FILTER_VALUE_CHARS = 4096
MAX_SPEC_CHARS = 8192

# canonical op -> accepted spellings
FILTER_OPS: dict[str, tuple[str, ...]] = {
    "contains": ("contains",),
    "=": ("=", "==", "eq"),
    "!=": ("!=", "<>", "ne"),
    "<": ("<", "lt"),
    "<=": ("<=", "le"),
    ">": (">", "gt"),
    ">=": (">=", "ge"),
    "is_null": ("is_null", "isnull", "null"),
    "not_null": ("not_null", "notnull", "is_not_null"),
}
_OP_BY_SPELLING = {spelling: op for op, spellings in FILTER_OPS.items() for spelling in spellings}
_VALUELESS = {"is_null", "not_null"}

# -- the view a request asks for -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool = False

    def spec(self) -> str:
        return _quote_name(self.column) + (":desc" if self.descending else "")


@dataclass(frozen=True)
class RowFilter:
    column: str
    op: str                     # a key of FILTER_OPS
    value: str | None = None    # None for is_null / not_null

    def spec(self) -> str:
        head = f"{_quote_name(self.column)}:{self.op}"
        return head if self.value is None else f"{head}:{self.value}"


@dataclass(frozen=True)
class ResultView:
    """How a request wants the result: sorted by ``order_by`` (then by stored order), narrowed by ``filters``."""

    order_by: tuple[SortKey, ...] = ()
    filters: tuple[RowFilter, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.order_by or self.filters)

    def params(self) -> list[tuple[str, str]]:
        """The view as query parameters (``order_by``, then one ``filter`` each), as the REST API reads them."""
        pairs = [("order_by", ",".join(key.spec() for key in self.order_by))] if self.order_by else []
        return pairs + [("filter", f.spec()) for f in self.filters]


PLAIN = ResultView()


def _quote_name(name: str) -> str:
    if name and not any(ch in name for ch in ",:") and not name.startswith('"') and name == name.strip():
        return name
    return '"' + name.replace('"', '""') + '"'


def _split_name(text: str, where: str) -> tuple[str, str]:
    """A leading column name (bare up to ``:``/``,``, or double-quoted) and the rest of ``text``."""
    if text.startswith('"'):
        out, i = [], 1
        while i < len(text):
            if text[i] == '"':
                if text[i + 1:i + 2] == '"':
                    out.append('"')
                    i += 2
                    continue
                return "".join(out), text[i + 1:]
            out.append(text[i])
            i += 1
        raise ValidationFailed(f"{where}: unterminated quoted column name in {text!r}")
    end = len(text)
    for sep in ",:":
        pos = text.find(sep)
        if pos != -1:
            end = min(end, pos)
    return text[:end].strip(), text[end:]


def _check_spec(spec: str, where: str) -> None:
    if len(spec) > MAX_SPEC_CHARS:
        raise ValidationFailed(f"{where}: at most {MAX_SPEC_CHARS:,} characters")
    if "\x00" in spec:
        raise ValidationFailed(f"{where}: contains a NUL character")


def parse_order_by(specs: str | Iterable[str] | None) -> tuple[SortKey, ...]:
    """``"fare:desc,trip_id"`` (or several such strings) -> sort keys. A column may appear once."""
    if specs is None:
        return ()
    keys: list[SortKey] = []
    for spec in [specs] if isinstance(specs, str) else specs:
        _check_spec(spec, "order_by")
        rest = spec.strip()
        while rest:
            name, rest = _split_name(rest, "order_by")
            direction = "asc"
            if rest.startswith(":"):
                direction, _, tail = rest[1:].partition(",")
                direction = direction.strip().lower()
                rest = ("," + tail) if _ else ""
            if direction not in ("asc", "desc"):
                raise ValidationFailed(f"order_by: direction must be asc or desc, got {direction!r}")
            if not name:
                raise ValidationFailed("order_by: a column name is empty")
            keys.append(SortKey(name, direction == "desc"))
            if rest.startswith(","):
                rest = rest[1:].strip()
                if not rest:
                    raise ValidationFailed("order_by: a column name is empty")
            elif rest:
                raise ValidationFailed(f"order_by: unexpected text {rest[:40]!r}")
    if len(keys) > MAX_SORT_KEYS:
        raise ValidationFailed(f"order_by: at most {MAX_SORT_KEYS} columns")
    names = [key.column for key in keys]
    if len(set(names)) != len(names):
        raise ValidationFailed("order_by: a column appears more than once")
    return tuple(keys)


def parse_filter(spec: str) -> RowFilter:
    """``"fare:>=:10"``, ``"name:contains:ann"``, ``"tip:is_null"`` -> a filter."""
    _check_spec(spec, "filter")
    name, rest = _split_name(spec.strip(), "filter")
    if not name:
        raise ValidationFailed(f"filter: a column name is empty in {spec[:60]!r}")
    if not rest.startswith(":"):
        raise ValidationFailed(f"filter: expected column:op[:value], got {spec[:60]!r}")
    spelled, sep, value = rest[1:].partition(":")
    op = _OP_BY_SPELLING.get(spelled.strip().lower())
    if op is None:
        raise ValidationFailed(f"filter: unknown operator {spelled[:20]!r}; use one of {', '.join(FILTER_OPS)}")
    if op in _VALUELESS:
        if sep and value:
            raise ValidationFailed(f"filter: {op} takes no value")
        return RowFilter(name, op)
    if not sep:
        raise ValidationFailed(f"filter: {op} needs a value (column:{op}:value)")
    if len(value) > MAX_FILTER_VALUE_CHARS:
        raise ValidationFailed(f"filter: a value has at most {MAX_FILTER_VALUE_CHARS:,} characters")
    return RowFilter(name, op, value)


def parse_view(order_by: str | Sequence[str] | None = None, filters: Sequence[str] | None = None) -> ResultView:
    parsed = tuple(parse_filter(spec) for spec in filters or ())
    if len(parsed) > MAX_FILTERS:
        raise ValidationFailed(f"filter: at most {MAX_FILTERS} filters")
    return ResultView(order_by=parse_order_by(order_by), filters=parsed)
