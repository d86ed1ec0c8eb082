"""/schemas/[schema_id]: the field tree, DDL per engine, versions, tables per engine, ingest and delete."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.controls import labelled_select
from bqlite_app.components.layout import page_layout
from bqlite_app.components.widgets import back_link, code_panel, error_callout
from bqlite_app.state.auth import AuthState
from bqlite_app.state.schema_detail import (
    ALL_TABLES,
    FORMATS,
    INGEST_UPLOAD_ID,
    EngineRow,
    FieldRow,
    IngestRow,
    VersionRow,
)
from bqlite_app.state.schema_detail import SchemaDetailState as S
from bqlite_app.state.schemas import ENGINE_LABELS

MODE_COLORS = {"REQUIRED": "blue", "REPEATED": "purple", "NULLABLE": "gray"}
FORMAT_LABELS = {"delimited": "Length-delimited", "single": "Single message", "jsonl": "JSON lines"}


def field_row(row: FieldRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(rx.cond(row.depth > 0, rx.text("└", color="var(--gray-8)")),
                      rx.text(row.name, font_family="var(--code-font-family)", size="2"),
                      spacing="1", padding_left=f"calc({row.depth} * 1.25em)"),
        ),
        rx.table.cell(row.number, text_align="right", color="var(--gray-11)"),
        rx.table.cell(rx.text(row.type, font_family="var(--code-font-family)", size="1")),
        rx.table.cell(rx.badge(row.mode, variant="soft", size="1",
                               color_scheme=rx.match(row.mode, *MODE_COLORS.items(), "gray"))),  # type: ignore
    )


def fields_tab() -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(
            rx.table.column_header_cell("Field"), rx.table.column_header_cell("Number", text_align="right"),
            rx.table.column_header_cell("Type"), rx.table.column_header_cell("Mode"))),
        rx.table.body(rx.foreach(S.fields, field_row)),
        size="1", variant="ghost", width="100%", aria_label="Fields",
    )


def ddl_tab() -> rx.Component:
    return rx.vstack(
        rx.foreach(S.engines, lambda row: rx.vstack(
            rx.text(row.label, size="2", weight="medium"), code_panel(row.ddl, "DDL"), spacing="1", width="100%")),
        spacing="4", width="100%",
    )


def version_item(row: VersionRow) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.badge("v", row.version.to_string(), variant="solid", size="1"),
            rx.text(row.created, size="1", color_scheme="gray"),
            rx.spacer(),
            rx.code(row.fingerprint, variant="ghost", size="1", title="Fingerprint"),
            align="center", width="100%",
        ),
        rx.el.ul(rx.foreach(row.changes, lambda change: rx.el.li(rx.text(change, size="2"))),
                 margin="0.4em 0 0 1.2em", padding="0"),
        padding="0.6em 0.8em", border_left="2px solid var(--accent-7)", width="100%",
    )


def versions_tab() -> rx.Component:
    return rx.vstack(rx.foreach(S.versions, version_item), spacing="3", width="100%")


def schema_tabs() -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(
            rx.tabs.trigger("Fields", value="fields"), rx.tabs.trigger("DDL", value="ddl"),
            rx.tabs.trigger("Versions", value="versions"), rx.tabs.trigger(".proto", value="proto"),
        ),
        rx.tabs.content(fields_tab(), value="fields", padding_top="0.8em"),
        rx.tabs.content(ddl_tab(), value="ddl", padding_top="0.8em"),
        rx.tabs.content(versions_tab(), value="versions", padding_top="0.8em"),
        rx.tabs.content(code_panel(S.proto_source, ".proto source", max_height="40em"), value="proto",
                        padding_top="0.8em"),
        default_value="fields", width="100%",
    )


def engine_table(row: EngineRow) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.cond(row.has_table, rx.icon("circle-check", size=16, color="var(--green-9)"),
                    rx.icon("circle-dashed", size=16, color="var(--gray-8)")),
            rx.text(row.label, weight="medium", size="2"),
            rx.spacer(),
            rx.cond(
                row.has_table,
                rx.tooltip(rx.icon_button(rx.icon("refresh-cw", size=13), size="1", variant="ghost",
                                          on_click=S.create_tables(row.engine), loading=S.creating,
                                          aria_label="Check " + row.label + " table"),
                           content="Create the table again if it went missing (existing data stays)"),
                rx.button("Create table", size="1", variant="soft", on_click=S.create_tables(row.engine),
                          loading=S.creating, aria_label="Create " + row.label + " table"),
            ),
            align="center", width="100%",
        ),
        rx.text(rx.cond(row.has_table, row.table, "No table yet"), size="1", color_scheme="gray",
                font_family="var(--code-font-family)"),
        rx.cond(row.note != "", rx.text(row.note, size="1", color_scheme=rx.cond(row.note_is_error, "red", "green"))),
        spacing="1", width="100%", padding_y="0.3em",
    )


def tables_card() -> rx.Component:
    return rx.card(rx.vstack(
        rx.hstack(rx.heading("Tables", size="3", weight="medium"), rx.spacer(),
                  rx.button("Create in all engines", size="1", on_click=S.create_tables(ALL_TABLES),
                            loading=S.creating, aria_label="Create tables in all engines"),
                  align="center", width="100%"),
        rx.foreach(S.engines, engine_table),
        error_callout(S.action_error_title, S.action_error),
        spacing="2", width="100%",
    ), width="100%")


def ingest_result(row: IngestRow) -> rx.Component:
    return rx.hstack(
        rx.text(row.label, size="2", weight="medium", min_width="6.5em"),
        rx.text(row.rows, " rows", size="2", aria_label=row.label + " rows", white_space="nowrap"),
        rx.spacer(),
        rx.link(rx.hstack(rx.icon("square-arrow-out-up-right", size=13), "Query", spacing="1", align="center"),
                href=row.query_url, size="2", white_space="nowrap", title="SELECT * … LIMIT 100 in the workspace",
                aria_label="Query " + row.label + " table in workspace"),
        align="center", width="100%",
    )


def ingest_card() -> rx.Component:
    selected = rx.selected_files(INGEST_UPLOAD_ID)
    formats = [(f, FORMAT_LABELS[f]) for f in FORMATS]
    return rx.card(rx.vstack(
        rx.heading("Ingest", size="3", weight="medium"),
        rx.text("Binary protobuf: length-delimited messages, one single message, or JSON lines.", size="1",
                color_scheme="gray"),
        rx.hstack(
            labelled_select("Format", formats, S.ingest_format, S.set_ingest_format, variant="surface",
                            min_width="9em"),
            rx.select.root(
                rx.select.trigger(custom_attrs={"aria-label": "Into"}, variant="surface", min_width="9em"),
                rx.select.content(rx.foreach(S.target_choices, lambda choice: rx.select.item(
                    rx.match(choice, (ALL_TABLES, "Every table"), *ENGINE_LABELS.items(), choice), value=choice))),
                value=S.ingest_target, on_change=S.set_ingest_target, size="2",
            ),
            spacing="2", width="100%",
        ),
        rx.box(rx.upload.root(
            rx.hstack(rx.icon("upload", size=16, color="var(--accent-9)"),
                      rx.text(rx.cond(selected.length() > 0, selected.join(", "), "Choose a data file"), size="2"),
                      align="center", spacing="2"),
            id=INGEST_UPLOAD_ID, multiple=False, max_files=1, border="1px dashed var(--gray-a7)",
            border_radius="var(--radius-3)", padding="0.7em 0.9em", cursor="pointer", width="100%",
        ), id=f"{INGEST_UPLOAD_ID}-zone", width="100%"),
        rx.hstack(
            rx.button(rx.icon("database-zap", size=15), "Ingest", aria_label="Ingest",
                      disabled=(selected.length() == 0) | ~S.has_tables | S.ingesting, loading=S.ingesting,
                      on_click=S.ingest_upload(rx.upload_files_chunk(upload_id=INGEST_UPLOAD_ID,
                                                                      on_upload_progress=S.upload_progress))),
            rx.cond(S.ingesting, rx.button("Cancel", variant="soft", color_scheme="gray",
                                           on_click=S.cancel_ingest, aria_label="Cancel ingest")),
            rx.cond(~S.has_tables, rx.text("Create a table first.", size="1", color_scheme="gray")),
            align="center", spacing="2",
        ),
        rx.cond(S.ingesting, rx.vstack(
            rx.text(S.ingest_phase, size="1", weight="medium"),
            rx.progress(value=S.ingest_percent, max=100, width="100%", aria_label="Ingest progress"),
            rx.text(S.ingest_text, size="1", color_scheme="gray"),
            spacing="1", width="100%",
        )),
        rx.cond(S.ingest_summary != "", rx.vstack(
            rx.text(S.ingest_summary, size="2", color_scheme="green", role="status", aria_label="Ingest result"),
            rx.foreach(S.ingest_rows, ingest_result),
            spacing="1", width="100%",
        )),
        error_callout(S.ingest_error_title, S.ingest_error),
        spacing="3", width="100%",
    ), width="100%")


def delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button(rx.icon("trash-2", size=15), "Delete", color_scheme="red",
                                          variant="soft", size="2")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete ", S.name, "?"),
            rx.alert_dialog.description(
                "The schema and all its versions leave the registry. Its tables stay unless you drop them.",
                size="2"),
            rx.cond(S.has_tables, rx.vstack(
                rx.checkbox("Also drop the tables", checked=S.drop_tables, on_change=S.set_drop_tables, size="2"),
                rx.text(S.table_list, size="1", color_scheme="gray", font_family="var(--code-font-family)",
                        padding_left="1.6em"),
                spacing="1", padding_top="1em")),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Delete schema", color_scheme="red", on_click=S.delete,
                                                 loading=S.deleting)),
                gap="3", justify="end", padding_top="1.2em",
            ),
            max_width="480px",
        ),
    )


def header() -> rx.Component:
    return rx.hstack(
        rx.vstack(
            back_link("Schemas", "/schemas"),
            rx.hstack(rx.heading(S.name, size="5", weight="medium", font_family="var(--code-font-family)"),
                      rx.badge("v", S.version.to_string(), variant="outline"), align="center", spacing="3"),
            rx.hstack(rx.text("Message ", rx.code(S.message_type, variant="ghost"), size="2"),
                      rx.text("· ", S.field_count, " fields · updated ", S.updated, size="2", color_scheme="gray"),
                      rx.cond(S.shard_key != "", rx.text("· shard key ", rx.code(S.shard_key, variant="ghost"),
                                                         size="2", color_scheme="gray")),
                      spacing="2", wrap="wrap"),
            rx.cond(S.description != "", rx.text(S.description, size="2", color_scheme="gray")),
            spacing="1",
        ),
        rx.spacer(),
        delete_dialog(),
        align="start", width="100%",
    )


def found() -> rx.Component:
    return rx.vstack(
        header(),
        rx.grid(
            rx.card(schema_tabs(), width="100%", min_width="0"),
            rx.vstack(tables_card(), ingest_card(), spacing="4", width="100%"),
            columns=rx.breakpoints(initial="1", md="minmax(0, 1fr) 380px"), spacing="4", width="100%",
            align_items="start",
        ),
        spacing="4", width="100%",
    )


@rx.page(route="/schemas/[schema_id]", title="Schema · BigQuery-Lite", on_load=[AuthState.check_login, S.load])
def schema_detail_page() -> rx.Component:
    return page_layout(
        rx.box(
            rx.cond(S.not_found != "", rx.vstack(
                back_link("Schemas", "/schemas"),
                rx.callout(S.not_found, icon="search-x", color_scheme="gray", width="100%"), spacing="3"),
                found()),
            width="100%", max_width="1400px", margin_x="auto",
        ),
        title="Schema",
    )
