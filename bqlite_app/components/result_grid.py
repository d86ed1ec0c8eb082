"""The results panel: job status while it runs, the error when it fails, and the paged, virtualized result grid.

The grid is Reflex's ``data_editor`` (Glide Data Grid: canvas-drawn and virtualized, so a 10,000-row page scrolls
smoothly). Pages come from the server; exports download the whole result from the REST API as a file.
"""

from __future__ import annotations

import reflex as rx

from bqlite_app.components import widgets
from bqlite_app.components.cell_inspector import cell_inspector
from bqlite_app.components.chart import quick_chart
from bqlite_app.components.controls import labelled_select
from bqlite_app.components.layout import API_URL
from bqlite_app.state.auth import AuthState
from bqlite_app.state.results import FILTER_OPS, PAGE_SIZES
from bqlite_app.state.workspace import WorkspaceState

EXPORTS = [("CSV", "csv"), ("JSON", "ndjson"), ("Parquet", "parquet"), ("Excel", "xlsx")]

_GRID_LIGHT = {
    "accent_color": "#2563eb", "accent_light": "rgba(37, 99, 235, 0.10)", "bg_header": "#f6f7f9",
    "bg_header_hovered": "#eceef2", "bg_header_has_focus": "#eceef2", "border_color": "rgba(0, 0, 0, 0.08)",
    "header_font_style": "600 12px", "base_font_style": "12.5px",
    "font_family": "ui-sans-serif, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
}
_GRID_DARK = {
    **_GRID_LIGHT,
    "accent_light": "rgba(96, 165, 250, 0.18)", "accent_color": "#60a5fa", "bg_cell": "#18191b",
    "bg_cell_medium": "#1f2023", "bg_header": "#212225", "bg_header_hovered": "#2a2b2f",
    "bg_header_has_focus": "#2a2b2f", "bg_bubble": "#2a2b2f", "bg_bubble_selected": "#33343a",
    "bg_icon_header": "#8b8d98", "fg_icon_header": "#18191b", "bg_search_result": "#3b3520",
    "border_color": "rgba(255, 255, 255, 0.09)", "horizontal_border_color": "rgba(255, 255, 255, 0.06)",
    "drilldown_border": "rgba(255, 255, 255, 0.2)", "link_color": "#60a5fa", "text_dark": "#edeef0",
    "text_medium": "#b0b4ba", "text_light": "#8b8d98", "text_bubble": "#edeef0", "text_header": "#b0b4ba",
    "text_header_selected": "#18191b", "text_group_header": "#b0b4ba",
}

# Export links point at the API's origin, where a link's `download` attribute does not apply: the click would start a
# navigation, and Reflex drops its websocket on `beforeunload`, leaving the page deaf after the file arrives. So an
# export (a link, or the auth-on button's `bqliteDownload(url)`) is fetched by a hidden iframe instead.
DOWNLOADS_WITHOUT_NAVIGATION = """
(function () {
  if (window.bqliteDownload) return;
  window.bqliteDownload = function (url) {
    const frame = document.createElement("iframe");
    frame.style.display = "none";
    frame.src = url;
    document.body.appendChild(frame);
    setTimeout(function () { frame.remove(); }, 600000);
  };
  document.addEventListener("click", function (event) {
    const link = event.target && event.target.closest ? event.target.closest("a[download]") : null;
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
      return;
    }
    let url;
    try { url = new URL(link.href, window.location.href); } catch (error) { return; }
    if (url.origin === window.location.origin) return;
    event.preventDefault();
    window.bqliteDownload(url.href);
  }, true);
})();
"""


def _camel(theme: dict[str, str]) -> dict[str, str]:
    """Glide reads camelCase theme keys; Reflex converts them only for a literal theme, not one chosen by a var."""
    return {key.split("_")[0] + "".join(p.title() for p in key.split("_")[1:]): value for key, value in theme.items()}


def status_badge() -> rx.Component:
    # The panel shows its own spinner beside the badge while the job runs.
    return widgets.status_badge(WorkspaceState.job_status, spinner=False, label="Job status")


def _export_link(label: str, fmt: str) -> rx.Component:
    # With auth on a plain link cannot send the bearer token: the state mints a one-minute link to the export.
    return rx.cond(AuthState.auth_on, _export_button(label, fmt), _rest_export_link(label, fmt))


def _export_button(label: str, fmt: str) -> rx.Component:
    return rx.button(
        rx.icon("download", size=13), rx.text(label, size="1", weight="medium"),
        on_click=WorkspaceState.download_result(fmt), aria_label=f"Download {label}",
        title=f"Download the whole result as {label}", size="1", variant="outline", color_scheme="gray",
    )


def _rest_export_link(label: str, fmt: str) -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon("download", size=13), rx.text(label, size="1", weight="medium"), spacing="1",
                  align="center"),
        href=f"{API_URL}/jobs/" + WorkspaceState.job_id + f"/result?format={fmt}" + WorkspaceState.view_query,
        download="", aria_label=f"Download {label}", title=f"Download the whole result as {label}",
        underline="none", padding_x="0.5em", padding_y="0.2em", border_radius="var(--radius-2)",
        border="1px solid var(--gray-a6)", color="var(--gray-12)", _hover={"background": "var(--gray-a3)"},
    )


def _pager() -> rx.Component:
    def nav(icon: str, label: str, event: rx.EventHandler, enabled: rx.Var) -> rx.Component:
        return rx.icon_button(rx.icon(icon, size=14), on_click=event, disabled=~enabled, size="1",
                              variant="ghost", color_scheme="gray", aria_label=label)

    return rx.hstack(
        rx.text("Rows per page", size="1", color="var(--gray-11)"),
        labelled_select("Rows per page", PAGE_SIZES, WorkspaceState.page_size_label, WorkspaceState.set_page_size,
                        size="1"),
        rx.text(WorkspaceState.page_label, size="1", weight="medium", aria_label="Shown rows", min_width="9em",
                text_align="center"),
        nav("chevrons-left", "First page", WorkspaceState.first_page, WorkspaceState.can_page_back),
        nav("chevron-left", "Previous page", WorkspaceState.previous_page, WorkspaceState.can_page_back),
        nav("chevron-right", "Next page", WorkspaceState.next_page, WorkspaceState.can_page_forward),
        nav("chevrons-right", "Last page", WorkspaceState.last_page, WorkspaceState.can_page_forward),
        align="center", spacing="2",
    )


def _filter_chip(chip: rx.Var, index: rx.Var) -> rx.Component:
    return rx.badge(
        rx.text(chip["label"], size="1"),
        rx.icon_button(rx.icon("x", size=11), on_click=WorkspaceState.remove_filter(index), size="1",
                       variant="ghost", color_scheme="gray", aria_label="Remove filter " + chip["label"].to(str),
                       height="14px", width="14px", min_width="0"),
        variant="soft", color_scheme="blue", radius="full", size="1", aria_label="Filter",
        custom_attrs={"data-filter": chip["label"]},
    )


def _filter_row() -> rx.Component:
    """The filter row: column, operator, value -> a filter over the whole result (server-side); chips of the
    filters in force; the sort a header click chose; why the server refused the last change."""
    return rx.hstack(
        rx.icon("list-filter", size=14, color="var(--gray-10)"),
        labelled_select("Filter column", WorkspaceState.column_names, WorkspaceState.filter_column,
                        WorkspaceState.set_filter_column, size="1", max_width="14em"),
        labelled_select("Filter operator", list(FILTER_OPS), WorkspaceState.filter_op, WorkspaceState.set_filter_op,
                        size="1"),
        rx.form(
            rx.hstack(
                rx.cond(WorkspaceState.filter_needs_value,
                        rx.input(name="filter_value", placeholder="value", size="1", width="12em",
                                 aria_label="Filter value", max_length=4096)),
                rx.button(rx.icon("check", size=13), "Filter", type="submit", size="1", variant="soft",
                          aria_label="Apply filter"),
                spacing="1", align="center",
            ),
            on_submit=WorkspaceState.add_filter, reset_on_submit=True, width="auto",
        ),
        rx.foreach(WorkspaceState.row_filters, _filter_chip),
        rx.cond(
            (WorkspaceState.row_filters.length() > 0) | (WorkspaceState.sort_column != ""),
            rx.button("Clear", on_click=WorkspaceState.clear_view, size="1", variant="ghost", color_scheme="gray",
                      aria_label="Clear sort and filters"),
        ),
        rx.cond(WorkspaceState.sort_label != "",
                rx.text(WorkspaceState.sort_label, size="1", color="var(--gray-11)", aria_label="Sort")),
        rx.cond(WorkspaceState.filtered_note != "",
                rx.text(WorkspaceState.filtered_note, size="1", color="var(--gray-11)", aria_label="Filtered rows")),
        rx.cond(WorkspaceState.view_loading, rx.spinner(size="1", aria_label="Sorting and filtering")),
        rx.cond(WorkspaceState.result_note != "",
                rx.text(WorkspaceState.result_note, size="1", color="var(--red-11)", role="alert",
                        aria_label="Result message")),
        align="center", spacing="2", width="100%", padding_x="0.6em", padding_y="0.25em", wrap="wrap",
        border_top="1px solid var(--gray-a4)", aria_label="Filter row", role="toolbar",
    )


def _grid() -> rx.Component:
    return rx.data_editor(
        columns=WorkspaceState.grid_columns,
        data=WorkspaceState.rows,
        row_markers="number",
        row_marker_start_index=WorkspaceState.page_offset + 1,
        smooth_scroll_x=True, smooth_scroll_y=True,
        max_column_auto_width=420, row_height=28, header_height=32,
        column_select="none", row_select="none",
        # A click on a nested value or a long text opens the cell inspector beside the grid.
        on_cell_clicked=WorkspaceState.inspect_cell,
        # A header click sorts the whole result on the server: ascending, descending, then stored order again.
        on_header_clicked=WorkspaceState.sort_by_header,
        theme=rx.color_mode_cond(light=_camel(_GRID_LIGHT), dark=_camel(_GRID_DARK)),
        # Glide keeps the theme it mounted with: remount when the colour mode flips.
        key=rx.color_mode_cond("grid-light", "grid-dark"),
        width="100%", height="100%",
    )


def _schema_table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(rx.table.column_header_cell("Column"),
                                         rx.table.column_header_cell("Type"))),
            rx.table.body(rx.foreach(WorkspaceState.result_columns, lambda c: rx.table.row(
                rx.table.cell(rx.text(c["name"], font_family="var(--code-font-family)", size="1")),
                rx.table.cell(rx.code(c["type"], size="1", variant="ghost")),
            ))),
            size="1", variant="ghost",
        ),
        overflow="auto", height="100%", padding="0.5em",
    )


def _info_row(label: str, value: rx.Component | rx.Var) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label, min_width="10em"), rx.data_list.value(value))


def _job_info() -> rx.Component:
    return rx.box(
        rx.data_list.root(
            _info_row("Job ID", rx.link(WorkspaceState.job_id, href="/jobs/" + WorkspaceState.job_id, size="2")),
            _info_row("Engine", WorkspaceState.job_engine),
            _info_row("Status", status_badge()),
            _info_row("Duration", WorkspaceState.job_elapsed),
            _info_row("Result", WorkspaceState.stats_line),
            size="2",
        ),
        padding="1em", overflow="auto", height="100%",
    )


def _results_tabs() -> rx.Component:
    def content(value: str, child: rx.Component) -> rx.Component:
        return rx.tabs.content(child, value=value, flex="1", min_height="0", overflow="hidden")

    return rx.tabs.root(
        rx.hstack(
            rx.tabs.list(
                rx.tabs.trigger("Results", value="results"),
                rx.tabs.trigger("Schema", value="schema"),
                rx.tabs.trigger("Chart", value="chart"),
                rx.tabs.trigger("Job information", value="info"),
                size="1",
            ),
            rx.spacer(),
            rx.hstack(*[_export_link(label, fmt) for label, fmt in EXPORTS], spacing="1", align="center",
                      aria_label="Export the whole result"),
            align="center", width="100%", padding_right="0.5em", wrap="wrap",
            border_bottom="1px solid var(--gray-a5)",
        ),
        content("results", rx.vstack(
            rx.hstack(
                status_badge(),
                rx.text(WorkspaceState.stats_line, size="1", color="var(--gray-11)", aria_label="Result statistics"),
                rx.spacer(),
                _pager(),
                align="center", width="100%", padding_x="0.6em", padding_y="0.25em", wrap="wrap",
            ),
            _filter_row(),
            rx.hstack(rx.box(_grid(), flex="1", min_width="0", height="100%"), cell_inspector(),
                      spacing="0", flex="1", min_height="0", width="100%"),
            spacing="0", height="100%", width="100%",
        )),
        content("schema", _schema_table()),
        content("chart", quick_chart()),
        content("info", _job_info()),
        value=WorkspaceState.result_view, on_change=WorkspaceState.set_result_view,
        display="flex", flex_direction="column", height="100%", width="100%",
    )


def _running() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.hstack(rx.spinner(size="2"), status_badge(),
                      rx.text(WorkspaceState.job_elapsed, size="2", aria_label="Elapsed time"),
                      align="center", spacing="3"),
            rx.cond(
                WorkspaceState.progress_percent >= 0,
                rx.hstack(rx.progress(value=WorkspaceState.progress_percent, max=100, width="260px",
                                      aria_label="Query progress"),
                          rx.text(WorkspaceState.progress_percent.to_string() + "%", size="1"),
                          align="center", spacing="2"),
            ),
            rx.cond(WorkspaceState.job_queue_position > 0,
                    rx.text("Position in queue: ", WorkspaceState.job_queue_position, size="1",
                            color="var(--gray-11)")),
            align="center", spacing="3",
        ),
        height="100%", width="100%",
    )


def _error() -> rx.Component:
    return rx.box(
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert")),
            rx.vstack(
                rx.hstack(rx.text("Query failed", weight="bold", size="2"), status_badge(), align="center"),
                rx.el.pre(WorkspaceState.job_error, style={"white_space": "pre-wrap", "margin": "0",
                                                           "font_size": "12.5px",
                                                           "font_family": "var(--code-font-family)"}),
                rx.cond(
                    WorkspaceState.error_where != "",
                    rx.hstack(
                        rx.text("At ", rx.text.strong(WorkspaceState.error_where), size="1"),
                        rx.button("Show in editor", on_click=WorkspaceState.go_to_error, size="1", variant="soft",
                                  color_scheme="red", aria_label="Show the error position in the editor"),
                        align="center", spacing="3",
                    ),
                ),
                spacing="2", width="100%",
            ),
            color_scheme="red", role="alert", aria_label="Query error", width="100%",
        ),
        padding="0.75em", overflow="auto", height="100%",
    )


def _cancelled() -> rx.Component:
    return rx.box(
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-stop")),
            rx.hstack(rx.text("The query was stopped.", size="2"), status_badge(),
                      rx.text(WorkspaceState.job_error, size="1", color="var(--gray-11)"), align="center"),
            color_scheme="gray", role="status", aria_label="Query cancelled",
        ),
        padding="0.75em",
    )


def _message(icon: str, text: rx.Var | str) -> rx.Component:
    return rx.center(
        rx.vstack(rx.icon(icon, size=28, color="var(--gray-8)"),
                  rx.text(text, size="2", color="var(--gray-11)"), align="center", spacing="2"),
        height="100%", width="100%",
    )


def results_panel() -> rx.Component:
    return rx.box(
        rx.match(
            WorkspaceState.job_status,
            ("", _message("table-2", "Run a query to see its results here. Ctrl+Enter runs it from the editor.")),
            ("failed", _error()),
            ("cancelled", _cancelled()),
            ("loading", _message("hourglass", "Loading the last result…")),
            ("completed", rx.cond(
                WorkspaceState.has_result, _results_tabs(),
                _message("archive-x", rx.cond(WorkspaceState.result_note != "", WorkspaceState.result_note,
                                              "Loading the result…")),
            )),
            _running(),
        ),
        rx.script(DOWNLOADS_WITHOUT_NAVIGATION),
        width="100%", height="100%", aria_label="Query results", role="region",
    )
