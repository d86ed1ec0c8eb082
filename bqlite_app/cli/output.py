"""Where output goes and how values read: data on stdout, everything about it (progress, notes, errors) on stderr."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, ProgressColumn
from rich.syntax import Syntax

# Both follow sys.stdout / sys.stderr at write time, so redirection (and test runners) see everything. Lines are
# never wrapped (soft_wrap): a log or a pipe gets each message whole. Tables still fit the terminal, and code
# (rich Syntax) is printed with soft_wrap=False so that it wraps instead of being cropped.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Piped output is read by programs and grep: a table never squeezes a cell to "compl…" there.
PIPE_WIDTH = 1000
STATUS_STYLES = {"completed": "green", "failed": "red", "cancelled": "yellow", "running": "cyan", "queued": "blue",
                 "dry_run": "magenta"}


def fit_output_to_destination() -> None:
    """Use the terminal's width on a terminal (or $COLUMNS when set); elsewhere, room for every cell."""
    piped = not out.is_terminal and "COLUMNS" not in os.environ
    out.width = PIPE_WIDTH if piped else None  # type: ignore[assignment]  # None: measure the terminal again


def live_progress(*columns: ProgressColumn, show: bool = True) -> Progress:
    """A transient progress display on stderr, drawn only on a terminal: logs and pipes get no redraw noise."""
    return Progress(*columns, console=err, transient=True, disable=not (show and err.is_terminal))


def emit_json(data: Any) -> None:
    """The API's answer, untouched: colored on a terminal, plain (and one document) when piped."""
    if out.is_terminal:
        out.print_json(data=data)
    else:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_sql(sql: str, *, indent: int = 0) -> None:
    """Highlighted on a terminal; plain when piped (rich pads every line of code to the full width)."""
    if out.is_terminal:
        out.print(Syntax(sql, "sql", word_wrap=True, background_color="default", padding=(0, indent)),
                  soft_wrap=False)
    else:
        out.print(textwrap.indent(sql, " " * indent), markup=False)


def note(message: str) -> None:
    err.print(message)


def error_line(message: str, hint: str | None = None, *, label: str = "Error") -> None:
    err.print(f"[bold red]{label}:[/] {escape(message)}")
    if hint:
        err.print(f"[dim]{escape(hint)}[/]")


def status_text(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{status}[/]"


def one_line(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
