"""``bqlite audit``: the audit log (admins only), filtered and paged, or its hash chain verified."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bqlite_app.cli.context import cli_context
from bqlite_app.cli.errors import JobFailed
from bqlite_app.cli.output import note, one_line, out
from bqlite_app.humanize import DASH, local_time


class Outcome(StrEnum):
    ok = "ok"
    denied = "denied"
    failed = "failed"


OUTCOME_STYLES = {"ok": "green", "denied": "red", "failed": "yellow"}
RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str | None, option: str) -> str | None:
    """An ISO date or time (local time unless it has an offset), or a span before now such as `30m`, `12h`, `7d`;
    answered as ISO-8601 in UTC."""
    if value is None:
        return None
    text = value.strip()
    match = RELATIVE.match(text)
    if match:
        moment = datetime.now(UTC) - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter(f"{value!r}: give an ISO date or time (2026-01-26, 2026-01-26T10:30) or a span "
                                     "before now (30m, 12h, 7d)", param_hint=option) from None
        if moment.tzinfo is None:
            moment = moment.astimezone()  # a naive time is the viewer's local time
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def audit(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option("--actor", help="Only events by this user.", show_default=False)]
    = None,
    action: Annotated[str | None, typer.Option(
        "--action", help="Only this action, e.g. auth.login, job.submit, grant.set.", show_default=False)] = None,
    outcome: Annotated[Outcome | None, typer.Option(
        "--outcome", help="ok, denied or failed.", case_sensitive=False, show_default=False)] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="From this time: ISO (local unless it has an offset) or 30m, 12h, 7d ago.",
        show_default=False)] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="WHEN", help="Up to this time, as for --since.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many events.")] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many (newest) events first.")] = 0,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Check the hash chain of the whole log instead; exit 1 if it was tampered with.")] = False,
) -> None:
    """The audit log (admins only), newest first: logins, token, user and grant changes, jobs, refusals, schema
    changes, ingests and exports."""
    context = cli_context(ctx)
    if verify:
        answer = context.client.audit_verify()
        context.respond(answer, _print_verified)
        if not answer["ok"]:
            raise JobFailed(f"the audit chain is broken at event {answer.get('first_bad_id')}: an event was edited "
                            "or removed")
        return
    answer = context.client.audit(actor=actor, action=action, outcome=outcome.value if outcome else None,
                                  since=parse_when(since, "--since"), until=parse_when(until, "--until"),
                                  limit=limit, offset=offset)
    context.respond(answer, _print_audit)


def _print_verified(answer: dict[str, Any]) -> None:
    if answer["ok"]:
        out.print(f"[green]Audit chain intact:[/] {answer['events']:,} event(s) verified.")
    else:
        out.print(f"[red]Audit chain broken[/] at event {answer.get('first_bad_id')} "
                  f"({answer['events']:,} event(s) checked).")


def _print_audit(answer: dict[str, Any]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("ID", "TIME", "ACTOR", "CLIENT", "ACTION", "TARGET", "OUTCOME"):
        table.add_column(name, justify="right" if name == "ID" else "left", no_wrap=True)
    table.add_column("DETAIL", overflow="fold")
    for event in answer["events"]:
        outcome = event.get("outcome") or ""
        detail = event.get("detail") or {}
        table.add_row(str(event["id"]), local_time(event.get("ts")), escape(str(event.get("actor") or DASH)),
                      escape(str(event.get("client_ip") or DASH)), escape(str(event.get("action") or "")),
                      escape(one_line(str(event.get("target") or DASH), 40)),
                      f"[{OUTCOME_STYLES.get(outcome, 'white')}]{outcome}[/]",
                      escape(json.dumps(detail, ensure_ascii=False, separators=(",", ":")) if detail else ""))
    out.print(table)
    note(f"[dim]{len(answer['events'])} of {answer.get('total', len(answer['events'])):,} event(s), newest first[/]")
