"""A quick bar or line chart of the shown result page: pick the x column and a numeric y column."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.controls import labelled_select
from bqlite_app.state.results import CHART_MAX_POINTS
from bqlite_app.state.workspace import WorkspaceState

_SERIES_COLOR = "var(--accent-9)"


def _axes() -> list[rx.Component]:
    return [
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke="var(--gray-a5)"),
        rx.recharts.x_axis(data_key="x", stroke="var(--gray-10)", tick={"fontSize": 11}),
        rx.recharts.y_axis(stroke="var(--gray-10)", tick={"fontSize": 11}, width=70),
        rx.recharts.graphing_tooltip(
            content_style={"background": "var(--color-panel-solid)", "border": "1px solid var(--gray-a6)",
                           "fontSize": "12px"},
        ),
    ]


def _chart() -> rx.Component:
    return rx.cond(
        WorkspaceState.chart_kind == "line",
        rx.recharts.line_chart(
            rx.recharts.line(data_key="y", name=WorkspaceState.chart_y, stroke=_SERIES_COLOR, dot=False,
                             is_animation_active=False, type_="monotone"),
            *_axes(), data=WorkspaceState.chart_data, width="100%", height="100%",
        ),
        rx.recharts.bar_chart(
            rx.recharts.bar(data_key="y", name=WorkspaceState.chart_y, fill=_SERIES_COLOR, is_animation_active=False),
            *_axes(), data=WorkspaceState.chart_data, width="100%", height="100%",
        ),
    )


def _select(label: str, value: rx.Var, items: rx.Var, on_change: rx.EventHandler) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="1", color="var(--gray-11)"),
        labelled_select(label, items, value, on_change, size="1"),
        align="center", spacing="1",
    )


def quick_chart() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.segmented_control.root(
                rx.segmented_control.item(rx.icon("chart-column", size=14), value="bar", aria_label="Bar chart"),
                rx.segmented_control.item(rx.icon("chart-line", size=14), value="line", aria_label="Line chart"),
                value=WorkspaceState.chart_kind, on_change=WorkspaceState.set_chart_kind, size="1",
            ),
            _select("X axis", WorkspaceState.chart_x, WorkspaceState.column_names, WorkspaceState.set_chart_x),
            _select("Y axis", WorkspaceState.chart_y, WorkspaceState.numeric_columns, WorkspaceState.set_chart_y),
            rx.text(f"First {CHART_MAX_POINTS:,} rows of this page", size="1", color="var(--gray-10)"),
            align="center", spacing="4", wrap="wrap",
        ),
        rx.cond(
            WorkspaceState.numeric_columns.length() > 0,
            rx.box(_chart(), width="100%", flex="1", min_height="0"),
            rx.center(rx.text("The result has no numeric column to plot.", size="2", color="var(--gray-11)"),
                      flex="1", width="100%"),
        ),
        spacing="3", width="100%", height="100%", padding="0.75em",
    )
