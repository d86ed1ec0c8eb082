"""/admin/datasets: every dataset, and who may read, write or own it (grant and revoke per user)."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.admin import admin_page
from bqlite_app.components.controls import labelled_select
from bqlite_app.state.admin import GRANT_ROLES, AdminDatasetsState, DatasetRow, GrantRow
from bqlite_app.state.auth import AuthState


def grant_form() -> rx.Component:
    return rx.hstack(
        labelled_select("Dataset", AdminDatasetsState.dataset_names, AdminDatasetsState.grant_dataset,
                        AdminDatasetsState.set_grant_dataset),
        labelled_select("User", AdminDatasetsState.usernames, AdminDatasetsState.grant_user,
                        AdminDatasetsState.set_grant_user),
        labelled_select("Dataset role", GRANT_ROLES, AdminDatasetsState.grant_role,
                        AdminDatasetsState.set_grant_role),
        rx.button(rx.icon("key-round", size=14), "Grant", on_click=AdminDatasetsState.grant,
                  aria_label="Grant access"),
        spacing="2", align="center", wrap="wrap",
    )


def dataset_row(dataset: DatasetRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(dataset.name, variant="ghost")),
        rx.table.cell(dataset.tables, text_align="right"),
        rx.table.cell(dataset.grants, text_align="right"),
        aria_label="Dataset " + dataset.name,
    )


def grant_row(grant: GrantRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(grant.dataset, variant="ghost")),
        rx.table.cell(grant.username),
        rx.table.cell(rx.badge(grant.role, variant="soft")),
        rx.table.cell(rx.button("Revoke", size="1", variant="soft", color_scheme="red",
                                on_click=AdminDatasetsState.revoke(grant.dataset, grant.username),
                                aria_label="Revoke " + grant.username + " on " + grant.dataset)),
        aria_label="Grant " + grant.dataset + " " + grant.username,
    )


@rx.page(route="/admin/datasets", title="Datasets · BigQuery-Lite",
         on_load=[AuthState.check_login, AdminDatasetsState.load])
def admin_datasets_page() -> rx.Component:
    return admin_page(
        "Datasets and grants",
        "A dataset is a database on both engines (the sample tables are `default`). A reader may query it, a "
        "writer may also change its tables, an owner may also drop them and change its grants.",
        rx.table.root(
            rx.table.header(rx.table.row(rx.table.column_header_cell("Dataset"),
                                         rx.table.column_header_cell("Tables", text_align="right"),
                                         rx.table.column_header_cell("Grants", text_align="right"))),
            rx.table.body(rx.foreach(AdminDatasetsState.datasets, dataset_row)),
            size="1", variant="surface", width="100%", aria_label="Datasets",
        ),
        rx.heading("Grants", size="3", weight="medium"),
        grant_form(),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("Dataset", "User", "Role", "")])),
            rx.table.body(rx.foreach(AdminDatasetsState.grants, grant_row)),
            size="1", variant="surface", width="100%", aria_label="Grants",
        ),
    )
