"""The workspace explorer's "Load data" dialog: choose a file, see the schema it would get, load it as a job.

The file uploads as soon as it is chosen and is previewed at once (and again when the format or header option
changes); Load submits a load job and the dialog follows it to the end, then offers to query the new table.
"""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.controls import labelled_select
from bqlite_app.components.widgets import error_callout
from bqlite_app.humanize import human_bytes
from bqlite_app.settings import get_settings
from bqlite_app.state.load_form import DISPOSITIONS, FORMATS, HEADERS, NEW_DATASET, UPLOAD_ID, SchemaRow
from bqlite_app.state.loads import LoadState
from bqlite_app.state.workspace import ENGINES

S = LoadState


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", weight="medium", color="var(--gray-11)"), control,
                     spacing="1", width="100%", min_width="0")


def _file_zone() -> rx.Component:
    return rx.box(
        rx.upload.root(
            rx.hstack(
                rx.icon(rx.cond(S.has_file, "file-check-2", "file-up"), size=18, color="var(--accent-9)",
                        flex_shrink="0"),
                rx.vstack(
                    rx.text(rx.cond(S.has_file, S.file_label, "Choose or drop a file"), size="2", weight="medium",
                            aria_label="Chosen file"),
                    rx.text(f"CSV, JSON lines, Parquet or Avro, up to {human_bytes(get_settings().max_ingest_bytes)}",
                            size="1", color_scheme="gray"),
                    spacing="0", min_width="0",
                ),
                align="center", spacing="3",
            ),
            id=UPLOAD_ID, multiple=False, max_files=1, max_size=get_settings().max_ingest_bytes,
            on_drop=S.receive_file(rx.upload_files_chunk(upload_id=UPLOAD_ID, on_upload_progress=S.upload_progress)),
            on_drop_rejected=S.file_refused, disabled=S.loading,
            border="1px dashed var(--gray-a7)", border_radius="var(--radius-3)", padding="0.7em 0.9em",
            cursor="pointer", width="100%", _hover={"background": "var(--accent-a2)"},
        ),
        rx.cond(S.uploading, rx.progress(value=S.upload_percent, max=100, width="100%", margin_top="6px",
                                         aria_label="Upload progress")),
        id=f"{UPLOAD_ID}-zone", width="100%",
    )


def _dataset_control() -> rx.Component:
    return rx.vstack(
        rx.select.root(
            rx.select.trigger(aria_label="Dataset", width="100%"),
            rx.select.content(rx.foreach(S.dataset_items, lambda item: rx.select.item(item[1], value=item[0]))),
            value=S.dataset_choice, on_change=S.set_dataset_choice, size="1",
        ),
        rx.cond(S.dataset_choice == NEW_DATASET,
                rx.input(value=S.new_dataset, on_change=S.set_new_dataset, placeholder="new_dataset",
                         aria_label="New dataset name", size="1", width="100%")),
        spacing="1", width="100%",
    )


def _form() -> rx.Component:
    return rx.grid(
        _field("Format", labelled_select("Format", FORMATS, S.source_format, S.set_source_format, size="1",
                                         width="100%")),
        _field("Engine", labelled_select("Engine", ENGINES, S.engine, S.set_engine, size="1", width="100%")),
        _field("Dataset", _dataset_control()),
        _field("Table", rx.input(value=S.table, on_change=S.set_table, placeholder="table_name",
                                 aria_label="Table name", size="1", width="100%")),
        _field("If the table exists", labelled_select("Write disposition", DISPOSITIONS, S.write_disposition,
                                                      S.set_write_disposition, size="1", width="100%")),
        rx.cond(S.is_csv, _field("Header", labelled_select("Header row", HEADERS, S.csv_header, S.set_csv_header,
                                                           size="1", width="100%"))),
        columns="3", spacing="3", width="100%", align_items="start",
    )


def _error() -> rx.Component:
    return error_callout(S.error_title, S.error_detail)


def _schema_row(row: SchemaRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.name, font_family="var(--code-font-family)", size="1",
                              padding_left=(row.depth * 14).to_string() + "px")),
        rx.table.cell(rx.code(row.type, variant="ghost", size="1")),
        rx.table.cell(rx.text(row.mode, size="1", color_scheme="gray")),
    )


def _sample_table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(rx.foreach(S.sample_headers, lambda name: rx.table.column_header_cell(
                name, white_space="nowrap")))),
            rx.table.body(rx.foreach(S.sample_rows, lambda row: rx.table.row(rx.foreach(
                row, lambda value: rx.table.cell(value, white_space="nowrap", max_width="240px", overflow="hidden",
                                                 text_overflow="ellipsis"))))),
            size="1", variant="surface", width="100%",
        ),
        role="region", aria_label="Sample rows", width="100%", overflow_x="auto",
    )


def _preview() -> rx.Component:
    return rx.cond(
        S.previewing,
        rx.hstack(rx.spinner(size="2"), rx.text("Reading the file…", size="2"), align="center", spacing="2"),
        rx.cond(
            S.preview_ok,
            rx.vstack(
                rx.grid(
                    rx.vstack(
                        rx.text("Inferred schema", size="2", weight="bold"),
                        rx.box(rx.table.root(
                            rx.table.header(rx.table.row(rx.table.column_header_cell("Name"),
                                                         rx.table.column_header_cell("Type"),
                                                         rx.table.column_header_cell("Mode"))),
                            rx.table.body(rx.foreach(S.schema_rows, _schema_row)),
                            size="1", variant="surface", width="100%",
                        ), role="region", aria_label="Inferred schema", max_height="240px", overflow_y="auto",
                            width="100%"),
                        spacing="1", width="100%", min_width="0",
                    ),
                    rx.vstack(
                        rx.text("First rows", size="2", weight="bold"),
                        _sample_table(),
                        spacing="1", width="100%", min_width="0",
                    ),
                    columns="minmax(0, 2fr) minmax(0, 3fr)", spacing="3", width="100%",
                ),
                rx.cond(S.preview_note != "", rx.text(S.preview_note, size="1", color_scheme="gray")),
                spacing="2", width="100%",
            ),
        ),
    )


def _progress() -> rx.Component:
    return rx.cond(
        S.job_status != "",
        rx.vstack(
            rx.hstack(
                rx.text(S.job_phase, size="2", weight="medium", role="status", aria_label="Load status"),
                rx.spacer(),
                rx.text(S.job_elapsed, size="1", color_scheme="gray", aria_label="Elapsed time"),
                rx.cond(S.job_id != "", rx.link(S.job_id, href="/jobs/" + S.job_id, size="1",
                                                font_family="var(--code-font-family)")),
                align="center", spacing="3", width="100%",
            ),
            rx.cond(S.job_percent >= 0,
                    rx.progress(value=S.job_percent, max=100, width="100%", aria_label="Load progress"),
                    rx.cond(S.loading, rx.progress(width="100%", aria_label="Load progress"))),
            rx.cond(
                S.done,
                rx.callout.root(
                    rx.callout.icon(rx.icon("circle-check")),
                    rx.callout.text(S.job_summary, aria_label="Load result"),
                    color_scheme="green", size="1", width="100%",
                ),
            ),
            spacing="2", width="100%",
        ),
    )


def _footer() -> rx.Component:
    return rx.hstack(
        rx.cond(S.done, rx.hstack(
            rx.button(rx.icon("file-code-2", size=14), "Query this table", on_click=S.query_table, size="2"),
            rx.button("Load another file", on_click=S.load_another, size="2", variant="soft"),
            spacing="2",
        )),
        rx.spacer(),
        rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray", size="2")),
        rx.cond(S.loading, rx.button("Cancel load", on_click=S.cancel_load, color_scheme="red", variant="soft",
                                     size="2")),
        rx.cond(~S.done, rx.button(rx.icon("database-zap", size=14), "Load", on_click=S.start_load, size="2",
                                   disabled=~S.can_load, loading=S.loading, aria_label="Load")),
        align="center", spacing="2", width="100%",
    )


def load_data_dialog() -> rx.Component:
    """The explorer's "Load data" button and the dialog it opens."""
    return rx.fragment(
        rx.tooltip(
            rx.icon_button(rx.icon("upload", size=14), on_click=S.open_dialog, size="1", variant="ghost",
                           color_scheme="gray", aria_label="Load data"),
            content="Load data from a file",
        ),
        rx.dialog.root(
            rx.dialog.content(
                rx.dialog.title("Load data"),
                rx.dialog.description("Load a file into a table. The schema is detected from the file; check it "
                                      "before loading.", size="2", color_scheme="gray"),
                rx.vstack(_file_zone(), _form(), _error(), _preview(), _progress(), _footer(),
                          spacing="4", width="100%", margin_top="0.75em"),
                max_width="920px", width="92vw",
            ),
            open=S.open, on_open_change=S.set_open,
        ),
    )
