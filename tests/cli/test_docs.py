"""docs/cli.md is the man page: every command and option that `--help` shows is documented, and nothing else."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from bench.server import ROOT
from bqlite_app.cli.main import app

MAN_PAGE = (ROOT / "docs/cli.md").read_text()
# `### bqlite jobs result [OPTIONS] JOB_ID` -> the usage line of `bqlite jobs result`
COMMAND_HEADING = re.compile(r"^### (bqlite .+)$", re.MULTILINE)
GROUPS = ("jobs", "schemas", "saved", "users", "grants", "tokens")


def documented_commands() -> dict[str, str]:
    """Usage line -> the text of its section."""
    parts = COMMAND_HEADING.split(MAN_PAGE)
    return {usage: body.split("\n## ")[0] for usage, body in zip(parts[1::2], parts[2::2])}


def command_path(usage: str) -> list[str]:
    return [word for word in usage.split()[1:] if re.fullmatch(r"[a-z][a-z-]*", word)]


def documented_options(section: str) -> set[str]:
    """The option names in the first cell of each table row."""
    rows = (line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `-"))
    return {name for row in rows for name in re.findall(r"`(--?[\w-]+)`", row)}


def help_text(path: list[str]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def options_in_help(text: str) -> set[str]:
    """The option names the Options panel of --help lists (first cells only, not mentions in descriptions)."""
    names: set[str] = set()
    in_panel = False
    for line in text.splitlines():
        if "─ Options ─" in line:
            in_panel = True
        elif line.startswith("╰"):
            in_panel = False
        elif in_panel:
            for token in line.strip("│ ").split():
                if token != "*" and not token.startswith("-"):
                    break
                if token != "*":
                    names.add(token)
    return names - {"--help", "-h"}


def usage_in_help(text: str) -> str:
    usage = re.search(r"Usage: (bqlite[^\n]*)", text).group(1)
    return normalize_usage(usage)


def normalize_usage(usage: str) -> str:
    return " ".join(usage.replace("{", "").replace("}", "").replace("[OPTIONS]", "").split())


def all_command_paths() -> list[list[str]]:
    paths = []
    for line in help_text([]).splitlines():
        match = re.match(r"│ ([a-z][a-z-]*)\s", line)
        if match and match.group(1) in GROUPS:
            group = match.group(1)
            paths += [[group, m.group(1)] for m in (re.match(r"│ ([a-z][a-z-]*)\s", sub)
                                                    for sub in help_text([group]).splitlines()) if m]
        elif match:
            paths.append([match.group(1)])
    return paths


def test_every_command_in_help_has_a_section_and_every_section_a_command():
    in_help = {" ".join(path) for path in all_command_paths()}
    in_docs = {" ".join(command_path(usage)) for usage in documented_commands()}
    assert in_help == in_docs
    assert len(in_help) == 37   # 31 + saved list|show|run|save|delete + jobs plan


@pytest.mark.parametrize("usage", list(documented_commands()))
def test_each_section_matches_the_commands_help(usage: str):
    path = command_path(usage)
    text = help_text(path)
    assert normalize_usage(usage) == usage_in_help(text)
    assert documented_options(documented_commands()[usage]) == options_in_help(text)


def test_global_options_match_the_root_help():
    section = MAN_PAGE.split("## OPTIONS")[1].split("\n## ")[0]
    assert documented_options(section) - {"--help", "-h"} == options_in_help(help_text([]))
