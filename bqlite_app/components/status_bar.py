"""The status bar at the bottom of every page: slots in use, queued and running jobs, and engine health."""

from __future__ import annotations

import reflex as rx
from reflex.event import no_args_event_spec

from bqlite_app.state.status import REFRESH_MS, EngineHealth, StatusState

_MODULE = rx.asset("interval.jsx", shared=True)


class Interval(rx.Component):
    """Calls ``on_tick`` on mount and then every ``ms`` milliseconds while the page is visible (interval.jsx)."""

    library = _MODULE.importable_path
    tag = "Interval"

    ms: rx.Var[int]
    on_tick: rx.EventHandler[no_args_event_spec]


def _engine(engine: EngineHealth) -> rx.Component:
    return rx.hstack(
        rx.box(width="8px", height="8px", border_radius="50%",
               background=rx.cond(engine.healthy, "var(--grass-9)", "var(--red-9)")),
        rx.text(engine.name, size="1", weight="medium"),
        rx.text(rx.cond(engine.healthy, "", " unavailable"), size="1", color="var(--red-11)"),
        align="center", spacing="1", title=engine.detail,
        aria_label=rx.cond(engine.healthy, engine.name + " healthy", engine.name + " unavailable"),
    )


def _figure(value: rx.Var, label: str) -> rx.Component:
    return rx.hstack(rx.text(value, size="1", weight="medium"), rx.text(label, size="1", color_scheme="gray"),
                     spacing="1", align="center")


def status_bar() -> rx.Component:
    return rx.hstack(
        Interval.create(ms=REFRESH_MS, on_tick=StatusState.refresh),
        rx.cond(
            StatusState.reachable,
            rx.hstack(
                rx.hstack(rx.icon("cpu", size=13, color="var(--gray-10)"),
                          rx.text(StatusState.slots_label, size="1", weight="medium"), spacing="1", align="center"),
                _figure(StatusState.running_jobs, "running"),
                _figure(StatusState.queued_jobs, "queued"),
                spacing="4", align="center",
            ),
            rx.text("The backend is not answering", size="1", color="var(--red-11)"),
        ),
        rx.spacer(),
        rx.foreach(StatusState.engines, _engine),
        role="status", aria_label="System status", align="center", spacing="4", width="100%",
        padding_x="1em", height="26px", flex_shrink="0",
        border_top="1px solid var(--gray-a5)", background="var(--gray-2)",
    )
