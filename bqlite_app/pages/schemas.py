"""/schemas: registered protobuf schemas, their versions and tables, and the Register form."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.layout import page_layout
from bqlite_app.components.widgets import error_callout, error_note
from bqlite_app.state.auth import AuthState
from bqlite_app.state.schemas import ChangeRow, SchemaRow, SchemasState


def drop_zone(upload_id: str, prompt: str, hint: str, on_drop, *, multiple: bool) -> rx.Component:
    return rx.box(
        rx.upload.root(
            rx.hstack(
                rx.icon("file-up", size=18, color="var(--accent-9)"),
                rx.vstack(rx.text(prompt, size="2", weight="medium"), rx.text(hint, size="1", color_scheme="gray"),
                          spacing="0"),
                align="center", spacing="3",
            ),
            id=upload_id, multiple=multiple, max_files=None if multiple else 1, on_drop=on_drop,
            border="1px dashed var(--gray-a7)", border_radius="var(--radius-3)", padding="0.7em 0.9em",
            cursor="pointer", width="100%", _hover={"background": "var(--accent-a2)"},
        ),
        id=f"{upload_id}-zone", width="100%",
    )


def staged_files() -> rx.Component:
    return rx.cond(
        SchemasState.main_label != "",
        rx.vstack(
            rx.hstack(rx.icon("file-code", size=14), rx.text("Main: ", SchemasState.main_label, size="1"),
                      align="center", spacing="1"),
            rx.foreach(SchemasState.import_labels, lambda label: rx.hstack(
                rx.icon("file-symlink", size=14), rx.text("Import: ", label, size="1"), align="center", spacing="1")),
            rx.button("Clear files", variant="ghost", size="1", on_click=SchemasState.clear_files),
            spacing="1", align="start",
        ),
    )


def change_line(change: ChangeRow) -> rx.Component:
    return rx.hstack(
        rx.cond(change.breaking, rx.icon("circle-x", size=13, color="var(--red-9)", flex_shrink="0"),
                rx.icon("circle-check", size=13, color="var(--green-9)", flex_shrink="0")),
        rx.text(change.text, size="1"),
        align="start", spacing="1",
    )


def change_preview() -> rx.Component:
    """The answer of Check changes: a verdict, then each change, the breaking ones marked."""
    preview = SchemasState.preview
    return rx.cond(
        preview.verdict != "",
        rx.callout.root(
            rx.vstack(rx.text(preview.verdict, weight="bold", size="2"), rx.foreach(preview.changes, change_line),
                      spacing="1", width="100%"),
            color_scheme=preview.tone, role="status", aria_label="Changes", width="100%", size="1",
        ),
    )


def field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", weight="medium"), control, spacing="1", width="100%")


def register_form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Register a schema", size="3", weight="medium"),
            rx.text("Upload a .proto (or a FileDescriptorSet). Registering the same table again makes a new version "
                    "when the change is compatible.", size="1", color_scheme="gray"),
            drop_zone("proto_main", "Main .proto file", "Drop it here or click to choose",
                      SchemasState.stage_main(rx.upload_files(upload_id="proto_main")), multiple=False),
            drop_zone("proto_imports", "Imported files (optional)", "Every file the main file imports",
                      SchemasState.stage_imports(rx.upload_files(upload_id="proto_imports")), multiple=True),
            staged_files(),
            field("Table name", rx.input(value=SchemasState.table_name, on_change=SchemasState.set_table_name,
                                         placeholder="trips", aria_label="Table name", width="100%")),
            field("Database", rx.input(value=SchemasState.database_name, on_change=SchemasState.set_database_name,
                                       aria_label="Database", width="100%")),
            field("Message type", rx.input(value=SchemasState.message_type, on_change=SchemasState.set_message_type,
                                           placeholder="package.Message", aria_label="Message type",
                                           width="100%")),
            rx.cond(
                SchemasState.message_choices.length() > 1,
                rx.flex(
                    rx.text("Defined here:", size="1", color_scheme="gray"),
                    rx.foreach(SchemasState.message_choices, lambda name: rx.badge(
                        name, variant="surface", cursor="pointer", on_click=SchemasState.choose_message(name))),
                    wrap="wrap", gap="1", align="center",
                ),
            ),
            field("Description", rx.text_area(value=SchemasState.description, on_change=SchemasState.set_description,
                                              aria_label="Description", rows="2", width="100%")),
            field("Shard key (optional)", rx.input(
                value=SchemasState.shard_key, on_change=SchemasState.set_shard_key, placeholder="customer_id",
                aria_label="Shard key", width="100%")),
            rx.text("A top-level scalar field that places rows on a ClickHouse cluster's shards; random without one.",
                    size="1", color_scheme="gray"),
            error_callout(SchemasState.error_title, SchemasState.error_detail),
            change_preview(),
            rx.cond(
                SchemasState.existing_schema_id != "",
                rx.button(rx.icon("git-compare", size=15), "Check changes", on_click=SchemasState.check_changes,
                          disabled=~SchemasState.can_register, loading=SchemasState.checking, variant="soft",
                          width="100%"),
            ),
            rx.button(rx.icon("circle-plus", size=15), "Register", on_click=SchemasState.register,
                      disabled=~SchemasState.can_register, loading=SchemasState.registering, width="100%"),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def engine_badges(row: SchemaRow) -> rx.Component:
    return rx.cond(
        row.engines.length() > 0,
        rx.hstack(rx.foreach(row.engines, lambda name: rx.badge(name, variant="soft", color_scheme="green",
                                                                 size="1")), spacing="1"),
        rx.text("no tables", size="1", color_scheme="gray"),
    )


def schema_row(row: SchemaRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.link(row.name, href="/schemas/" + row.schema_id, weight="medium",
                    font_family="var(--code-font-family)", size="2"),
            rx.cond(row.description != "", rx.text(row.description, size="1", color_scheme="gray", trim="both")),
            spacing="0",
        )),
        rx.table.cell(rx.badge("v", row.version.to_string(), variant="outline", size="1")),
        rx.table.cell(row.field_count, text_align="right"),
        rx.table.cell(engine_badges(row)),
        rx.table.cell(row.updated, white_space="nowrap"),
        align="center",
    )


def schema_table() -> rx.Component:
    return rx.cond(
        SchemasState.schemas.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(
                rx.table.column_header_cell("Table"), rx.table.column_header_cell("Version"),
                rx.table.column_header_cell("Fields", text_align="right"), rx.table.column_header_cell("Tables in"),
                rx.table.column_header_cell("Updated"),
            )),
            rx.table.body(rx.foreach(SchemasState.schemas, schema_row)),
            variant="surface", size="1", width="100%", aria_label="Registered schemas",
        ),
        rx.center(rx.vstack(
            rx.icon("file-code", size=28, color="var(--gray-9)"),
            rx.text("No schemas yet. Register a .proto to get typed tables in DuckDB and ClickHouse.",
                    color_scheme="gray", size="2"),
            align="center",
        ), padding="3em", width="100%", border="1px dashed var(--gray-a6)", border_radius="var(--radius-3)"),
    )


@rx.page(route="/schemas", title="Schemas · BigQuery-Lite", on_load=[AuthState.check_login, SchemasState.load])
def schemas_page() -> rx.Component:
    return page_layout(
        rx.vstack(
            rx.heading("Schemas", size="5", weight="medium"),
            rx.text("Protobuf messages registered as versioned tables. Open one to create its tables and ingest data.",
                    size="2", color_scheme="gray"),
            error_note(SchemasState.load_error),
            rx.grid(
                rx.box(schema_table(), width="100%", min_width="0"),
                register_form(),
                columns=rx.breakpoints(initial="1", md="minmax(0, 1fr) 360px"), spacing="4", width="100%",
                align_items="start",
            ),
            spacing="3", width="100%", max_width="1400px", margin_x="auto",
        ),
        title="Schemas",
    )
