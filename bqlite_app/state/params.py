"""Query parameters and keyboard shortcuts of the workspace (mixins of ``WorkspaceState``).

``ParamsMixin`` finds the ``@name`` parameters in the editor's text (with the engine's own lexical rules, as the
core binds them: ``jobs.param_sql``) and keeps a type and a value for each, per query tab, in the browser's
localStorage. ``_param_list`` is what Run and the dry run send: ``[{"name", "type", "value"}]``, bound by the
engine. ``KeysMixin`` holds the ``?`` overlay and the explicit dry run (Ctrl+Shift+Enter).
"""

from __future__ import annotations

import json
import re
from typing import Any

import reflex as rx

from bqlite_app.jobs.param_sql import parameter_names

# The types the input boxes offer (BigQuery's names); STRING first, the default for a new parameter.
PARAM_TYPES = ["STRING", "INT64", "FLOAT64", "NUMERIC", "BOOL", "DATE", "DATETIME", "TIME", "TIMESTAMP", "JSON"]
MAX_VALUE_CHARS = 100_000
MAX_TABS_KEPT = 50

# What a value typed into the box of a parameter whose type was never picked reads as (else STRING).
_GUESSES = (
    ("INT64", re.compile(r"[+-]?\d{1,18}")),
    ("FLOAT64", re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)")),
    ("BOOL", re.compile(r"true|false", re.IGNORECASE)),
    ("DATE", re.compile(r"\d{4}-\d{2}-\d{2}")),
    ("TIMESTAMP", re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2}| UTC)?")),
)


def guess_type(value: str) -> str:
    """The type ``value`` reads as: ``4`` is an INT64, ``2024-01-31`` a DATE. A new user types a number into a new
    parameter's box and expects a number; comparing it as a STRING would be an engine error."""
    text = value.strip()
    return next((name for name, pattern in _GUESSES if pattern.fullmatch(text)), "STRING")


def param_rows(names: list[str], settings: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """One box per name, with the tab's type and value for it (STRING and empty when it has none)."""
    rows = []
    for name in names:
        setting = settings.get(name.lower(), {})
        rows.append({"name": name, "type": setting.get("type", "STRING"), "value": setting.get("value", "")})
    return rows


def to_parameters(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The boxes -> ``[{"name", "type", "value"}]``. An empty box is NULL, except for a STRING, where it is ''."""
    parameters = []
    for row in rows:
        value: str | None = row["value"]
        if value == "" and row["type"] != "STRING":
            value = None
        parameters.append({"name": row["name"], "type": row["type"], "value": value})
    return parameters


def settings_from_json(text: str) -> dict[str, dict[str, dict[str, str]]]:
    """The browser's copy of the settings; anything unreadable is dropped."""
    try:
        saved = json.loads(text)
        return {str(tab): {str(name): {"type": str(s.get("type", "STRING")), "value": str(s.get("value", "")),
                                       **({"picked": "1"} if s.get("picked") else {})}
                           for name, s in names.items() if isinstance(s, dict)}
                for tab, names in saved.items() if isinstance(names, dict)}
    except (ValueError, TypeError, AttributeError):
        return {}


def boxes_for(parameters: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """A job's stored parameters -> ``{name: {"type", "value"}}`` for the boxes (scalars of the offered types)."""
    boxes = {}
    for parameter in parameters:
        value, typ = parameter.get("value"), parameter.get("type")
        if typ not in PARAM_TYPES or isinstance(value, (dict, list)):
            continue
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        boxes[str(parameter.get("name", ""))] = {"type": str(typ), "value": text, "picked": "1"}
    return boxes


def type_after_typing(setting: dict[str, str], value: str) -> str:
    """A parameter's type after ``value`` is typed: the user's pick stays. Otherwise a STRING becomes what the value
    reads as, and an INT64 may widen to FLOAT64; a guessed type is not narrowed again (a picker showing the type
    already guessed sends no pick when chosen)."""
    current = setting.get("type", "STRING")
    if setting.get("picked"):
        return current
    guess = guess_type(value)
    if current == "STRING" or (current, guess) == ("INT64", "FLOAT64"):
        return guess
    return current


class ParamsMixin(rx.State, mixin=True):
    """Input boxes for the ``@name`` parameters of the active tab's SQL."""

    # tab id -> {lowercased name: {"type": TYPE, "value": text[, "picked": "1"]}}; kept across reloads by the browser.
    # "picked": the user chose the type; until then it follows the value (``guess_type``).
    param_settings: dict[str, dict[str, dict[str, str]]] = {}
    saved_params: str = rx.LocalStorage("", name="bqlite.workspace.params")

    @rx.var
    def param_names(self) -> list[str]:
        """The distinct ``@names`` in the editor's text, in order (as the engine of the tab reads it)."""
        # ``self.`` spelled out (no alias): Reflex finds a computed var's dependencies in its code.
        return parameter_names(self.editor_text, self.engine)  # type: ignore[attr-defined]

    @rx.var
    def param_rows(self) -> list[dict[str, str]]:
        """One ``{"name", "type", "value"}`` per parameter of the active tab, for the input boxes."""
        return param_rows(self.param_names, self.param_settings.get(self.active_id, {}))  # type: ignore[attr-defined]

    def _load_params(self) -> None:
        """The settings the browser kept (called when the page loads)."""
        if not self.param_settings and self.saved_params:
            self.param_settings = settings_from_json(self.saved_params)

    def _adopt_params(self, parameters: list[dict[str, Any]]) -> None:
        """A job's parameters (a ``/?job=<id>`` link) fill the active tab's boxes; the boxes hold scalars only."""
        for name, setting in boxes_for(parameters).items():
            self._set_param(name, **setting)

    def _param_list(self) -> list[dict[str, Any]]:
        """What a run or a dry run sends (``to_parameters``)."""
        return to_parameters(self.param_rows)

    def _is_parameter(self, name: Any) -> bool:
        """Whether ``name`` (a browser's event argument: anything) is one of the SQL's parameters. Only those are
        kept, so a crafted event cannot grow the state without bound."""
        return isinstance(name, str) and name.lower() in {n.lower() for n in self.param_names}

    def _set_param(self, name: str, **changes: str) -> None:
        state: Any = self
        tab = state.active_id
        settings = {**self.param_settings}
        names = {**settings.get(tab, {})}
        names[name.lower()] = {**{"type": "STRING", "value": ""}, **names.get(name.lower(), {}), **changes}
        settings[tab] = names
        # Only open tabs keep settings; the browser's copy stays small.
        open_tabs = {t.id for t in state.tabs}
        self.param_settings = {t: s for t, s in settings.items() if t in open_tabs or t == tab}
        if len(self.param_settings) > MAX_TABS_KEPT:
            self.param_settings = dict(list(self.param_settings.items())[-MAX_TABS_KEPT:])
        self.saved_params = json.dumps(self.param_settings)

    @rx.event
    def set_param_type(self, name: str, typ: str):
        if typ in PARAM_TYPES and self._is_parameter(name):
            self._set_param(name, type=typ, picked="1")
            return type(self).dry_run
        return None

    @rx.event
    def set_param_value(self, name: str, value: str):
        if not self._is_parameter(name):
            return None
        value = str(value)[:MAX_VALUE_CHARS]
        state: Any = self
        setting = self.param_settings.get(state.active_id, {}).get(name.lower(), {})
        self._set_param(name, value=value, type=type_after_typing(setting, value))
        return type(self).dry_run


class KeysMixin(rx.State, mixin=True):
    """The keyboard: the ``?`` overlay and Ctrl+Shift+Enter's dry run (Ctrl+Enter runs, Esc cancels, Ctrl+S saves:
    the editor's events, bound in pages/workspace.py)."""

    shortcuts_open: bool = False
    # Set by an explicit dry run: its answer is also announced (the automatic one only updates the line).
    _announce_dry_run: bool = False

    @rx.event
    def open_shortcuts(self):
        self.shortcuts_open = True

    @rx.event
    def set_shortcuts_open(self, is_open: bool):
        self.shortcuts_open = bool(is_open)

    @rx.event
    def dry_run_from_editor(self, text: str, selection: str):
        """Ctrl+Shift+Enter: validate and price what Run would run, and say so; nothing runs."""
        state: Any = self
        state.selection = selection
        if state.editor_text != text:
            state.editor_text = text
            state._update_tab(sql=text)
        self._announce_dry_run = True
        return type(self).dry_run

    def _dry_run_announcement(self, valid: bool, message: str) -> Any:
        """The toast for an explicit dry run's answer (None for the automatic ones)."""
        if not self._announce_dry_run:
            return None
        self._announce_dry_run = False
        if valid:
            return rx.toast.success(f"Dry run: {message}")
        return rx.toast.error(f"Dry run: {message}")
