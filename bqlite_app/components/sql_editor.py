"""The SQL editor: CodeMirror 6 wrapped as a Reflex component.

The React side lives next to this file (``sql_editor.jsx``): Reflex copies it into the frontend's public folder and
imports it like a package. It bundles CodeMirror locally (nothing loads from a CDN). The npm packages it imports are
declared here, so Reflex installs them from the registry when it builds the UI.

The editor owns its document; the state changes it only through ``command`` (see the JSX for the protocol), and
learns the text through ``on_change(doc, selection)``. The keyboard (in the editor, and anywhere on its page):
Ctrl+Enter / Cmd+Enter fires ``on_run(doc, selection)``, Ctrl+Shift+Enter ``on_dry_run(doc, selection)``, Ctrl+S
``on_save(doc, selection)`` (the browser's own Save never opens), Esc ``on_cancel()`` and ``?`` outside text fields
``on_shortcuts()``. A handler may take fewer arguments than an event gives.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import no_args_event_spec, passthrough_event_spec

_MODULE = rx.asset("sql_editor.jsx", shared=True)

# Versions checked with `npm view`; the @codemirror/* packages are the ones @uiw/react-codemirror resolves to, so one
# copy of @codemirror/state is bundled (two copies break CodeMirror's extension checks).
REACT_CODEMIRROR = "@uiw/react-codemirror@4.25.12"
EDITOR_DEPENDENCIES = [
    "@codemirror/autocomplete@6.20.4",
    "@codemirror/lang-sql@6.10.0",
    "@codemirror/state@6.7.6",
    "@codemirror/view@6.43.15",
    "sql-formatter@15.9.0",
]


class SqlEditor(rx.NoSSRComponent):
    """CodeMirror with SQL highlighting, schema-aware completion and Ctrl+Enter to run."""

    library = _MODULE.importable_path
    tag = "SqlEditor"
    lib_dependencies: list[str] = [REACT_CODEMIRROR, *EDITOR_DEPENDENCIES]

    # The text shown when the editor mounts; later changes arrive as commands.
    value: rx.Var[str]
    # {seq, op: "set" | "insert" | "format" | "goto", text, pos}: applied once per seq.
    command: rx.Var[dict[str, Any]]
    # {database: {table: [[column, type], ...]}} of the selected engine, for completion.
    catalog: rx.Var[dict[str, Any]]
    # The database whose tables complete without a prefix ("main" on DuckDB, "default" on ClickHouse).
    default_schema: rx.Var[str]
    # "duckdb" | "clickhouse": picks the highlighting and formatting dialect.
    engine: rx.Var[str]
    color_mode: rx.Var[str]
    placeholder: rx.Var[str]
    aria_label: rx.Var[str]

    on_change: rx.EventHandler[passthrough_event_spec(str, str)]
    on_run: rx.EventHandler[passthrough_event_spec(str, str)]
    on_dry_run: rx.EventHandler[passthrough_event_spec(str, str)]
    on_save: rx.EventHandler[passthrough_event_spec(str, str)]
    on_cancel: rx.EventHandler[no_args_event_spec]
    on_shortcuts: rx.EventHandler[no_args_event_spec]


sql_editor = SqlEditor.create
