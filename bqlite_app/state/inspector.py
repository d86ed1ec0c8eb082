"""The cell inspector: a click on a nested value (struct, list, map, JSON) or a long string in the result grid opens a
side panel with the whole value as a tree and as text, and a copy button.

The grid already holds the clicked value (nested values arrive as compact JSON text, ``results.grid_cells``), so the
inspector reads the loaded page and never asks the core. The tree is a flat list of rows (one per node, with its
depth and a JSON-pointer path), which the panel draws with ``rx.foreach``; collapsing a node hides the rows under
its path.
"""

from __future__ import annotations

import json
from typing import Any

import reflex as rx

# A string longer than this (or with a line break) does not fit its grid cell: the inspector shows all of it.
LONG_TEXT = 48
# Nodes drawn in the tree; a bigger value is cut there (the text view and the copy button still hold all of it).
MAX_TREE_NODES = 2000
# Characters of one leaf value drawn in the tree.
MAX_LEAF_CHARS = 240
_NESTED_PREFIXES = ("ARRAY", "STRUCT", "MAP", "JSON", "RANGE")


def _escape(key: str) -> str:
    """A key as a JSON-pointer segment (RFC 6901), so ``/`` in a key never reads as a level."""
    return key.replace("~", "~0").replace("/", "~1")


def parse_json(text: str) -> Any:
    """The object or array ``text`` spells, else None (plain text, a number, invalid JSON)."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def inspectable(type_name: str, cell: Any) -> bool:
    """Whether a click on this grid cell opens the inspector: a non-null nested value, a JSON object or array held
    as text, or text too long for its cell."""
    if not isinstance(cell, str) or cell == "null":    # a SQL NULL (the grid shows nulls as "null")
        return False
    if type_name.startswith(_NESTED_PREFIXES):
        return True
    return len(cell) > LONG_TEXT or "\n" in cell or parse_json(cell) is not None


def cell_value(type_name: str, cell: Any) -> tuple[Any, bool]:
    """The value a grid cell stands for, and whether it is structured (a dict or list to draw as a tree)."""
    if isinstance(cell, str):
        value = parse_json(cell)
        if value is not None:
            return value, True
        if type_name.startswith(_NESTED_PREFIXES):   # e.g. a RANGE, or nested text that is not JSON
            return cell, False
    return cell, False


def pretty_text(value: Any, structured: bool) -> str:
    """What the text view shows and the copy button copies: indented JSON, or the string itself."""
    if structured:
        return json.dumps(value, ensure_ascii=False, indent=2)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def _leaf_text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_LEAF_CHARS else text[: MAX_LEAF_CHARS - 1] + "…"


def tree_rows(value: Any, *, max_nodes: int = MAX_TREE_NODES) -> list[dict[str, Any]]:
    """The value as tree rows, depth first: ``{path, depth, key, kind, text, branch}``.

    ``path`` is a JSON pointer (``""`` for the root, ``/a/0``); ``key`` is the member name or ``[i]``; ``text`` is
    a leaf's JSON or a branch's size (``{3 keys}``, ``[5 items]``). Past ``max_nodes`` one ``kind="more"`` row says
    how many nodes were left out."""
    rows: list[dict[str, Any]] = []
    left_out = 0
    # An explicit stack: a deeply nested value must not hit Python's recursion limit.
    stack: list[tuple[str, int, str, Any]] = [("", 0, "", value)]
    while stack:
        path, depth, key, node = stack.pop()
        if len(rows) >= max_nodes:
            left_out += 1
            if isinstance(node, dict | list):
                left_out += _count_nodes(node) - 1
            continue
        kind = _kind(node)
        if kind == "object":
            text = f"{{{len(node)} key{'' if len(node) == 1 else 's'}}}"
            children = [(f"{path}/{_escape(str(k))}", depth + 1, str(k), v) for k, v in node.items()]
        elif kind == "array":
            text = f"[{len(node)} item{'' if len(node) == 1 else 's'}]"
            children = [(f"{path}/{i}", depth + 1, f"[{i}]", v) for i, v in enumerate(node)]
        else:
            text, children = _leaf_text(node), []
        rows.append({"path": path, "depth": depth, "key": key, "kind": kind, "text": text,
                     "branch": kind in ("object", "array") and bool(node)})
        stack.extend(reversed(children))
    if left_out:
        rows.append({"path": "\x00more", "depth": 0, "key": "", "kind": "more",
                     "text": f"… {left_out:,} more nodes (the text view has the whole value)", "branch": False})
    return rows


def _count_nodes(value: Any) -> int:
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def visible_rows(rows: list[dict[str, Any]], collapsed: list[str]) -> list[dict[str, Any]]:
    """The rows not under a collapsed branch, each with ``collapsed`` set for its own toggle."""
    closed = set(collapsed)
    out: list[dict[str, Any]] = []
    hidden_under: str | None = None
    for row in rows:   # depth-first order: a branch's descendants follow it directly
        path = row["path"]
        if hidden_under is not None and path.startswith(hidden_under + "/"):
            continue
        hidden_under = None
        is_closed = row["branch"] and path in closed
        if is_closed:
            hidden_under = path
        out.append({**row, "collapsed": is_closed})
    return out


# -- the state mixin ------------------------------------------------------------------------------------------


class InspectorMixin(rx.State, mixin=True):
    """The inspected cell of the shown result page (the concrete state also has ``ResultsMixin``'s page)."""

    inspect_open: bool = False
    inspect_column: str = ""
    inspect_type: str = ""
    inspect_row: int = 0                 # 1-based row number in the whole result
    inspect_structured: bool = False
    inspect_text: str = ""
    inspect_mode: str = "tree"           # "tree" | "text"
    inspect_tree: list[dict[str, Any]] = []
    inspect_collapsed: list[str] = []

    @rx.var
    def inspect_visible(self) -> list[dict[str, Any]]:
        return visible_rows(self.inspect_tree, self.inspect_collapsed)

    @rx.var
    def inspect_size(self) -> str:
        chars = len(self.inspect_text)
        return f"{chars:,} character{'' if chars == 1 else 's'}"

    @rx.event
    def inspect_cell(self, pos: tuple[int, int]):
        """A click on a grid cell (``[column, row]`` within the page): open the inspector on a nested or long
        value; other cells leave it as it is."""
        try:
            column, row = int(pos[0]), int(pos[1])
        except (TypeError, ValueError, IndexError):
            return
        columns: list[dict[str, str]] = self.result_columns  # type: ignore[attr-defined]
        rows: list[list[Any]] = self.rows  # type: ignore[attr-defined]
        if not (0 <= column < len(columns) and 0 <= row < len(rows) and column < len(rows[row])):
            return
        type_name, cell = columns[column]["type"], rows[row][column]
        if not inspectable(type_name, cell):
            return
        value, structured = cell_value(type_name, cell)
        self.inspect_column = columns[column]["name"]
        self.inspect_type = type_name
        self.inspect_row = self.page_offset + row + 1  # type: ignore[attr-defined]
        self.inspect_structured = structured
        self.inspect_text = pretty_text(value, structured)
        self.inspect_tree = tree_rows(value) if structured else []
        self.inspect_collapsed = []
        self.inspect_mode = "tree" if structured else "text"
        self.inspect_open = True

    @rx.event
    def toggle_inspect_node(self, path: str):
        if path in self.inspect_collapsed:
            self.inspect_collapsed = [p for p in self.inspect_collapsed if p != path]
        else:
            self.inspect_collapsed = [*self.inspect_collapsed, path]

    @rx.event
    def collapse_inspect_all(self):
        self.inspect_collapsed = [r["path"] for r in self.inspect_tree if r["branch"] and r["depth"] >= 1]

    @rx.event
    def expand_inspect_all(self):
        self.inspect_collapsed = []

    @rx.event
    def set_inspect_mode(self, mode: str | list[str]):
        self.inspect_mode = "text" if mode == "text" or not self.inspect_structured else "tree"

    @rx.event
    def close_inspector(self):
        self._clear_inspector()

    # -- ResultsMixin hooks: other rows (another page, a sort, a new result) close the panel ------------------------

    def _apply_page(self, page: Any) -> None:
        super()._apply_page(page)  # type: ignore[misc]
        self._clear_inspector()

    def _clear_result(self) -> None:
        super()._clear_result()  # type: ignore[misc]
        self._clear_inspector()

    def _clear_inspector(self) -> None:
        self.inspect_open = False
        self.inspect_column = self.inspect_type = self.inspect_text = ""
        self.inspect_tree, self.inspect_collapsed = [], []
        self.inspect_row = 0
