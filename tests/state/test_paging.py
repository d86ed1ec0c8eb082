"""The pager the job history and the audit log share (``state/paging.py``): its label, buttons and page turns."""

from __future__ import annotations

import reflex as rx

from bqlite_app.state.audit import AuditState
from bqlite_app.state.jobs import JobsState
from bqlite_app.state.paging import range_label


def substate(cls: type[rx.State]) -> rx.State:
    root = rx.State(_reflex_internal_init=True)
    return root.get_substate(cls.get_full_name().split(".")[1:])


def test_the_label_counts_the_rows_shown():
    assert range_label(0, 0, 0, "No jobs") == "No jobs"
    assert range_label(0, 50, 1234, "No jobs") == "1–50 of 1,234"
    assert range_label(1200, 34, 1234, "No jobs") == "1,201–1,234 of 1,234"


def test_each_list_keeps_its_page_size_and_empty_label():
    jobs, audit = substate(JobsState), substate(AuditState)
    assert (jobs.PAGE_SIZE, jobs.range_label) == (50, "No jobs")
    assert (audit.PAGE_SIZE, audit.range_label) == (100, "No events")


def test_pages_turn_within_the_list():
    state = substate(JobsState)
    state._set_page(50, 120)
    assert (state.range_label, state.has_previous, state.has_next) == ("1–50 of 120", False, True)
    state._turn_page(forward=True)
    state._turn_page(forward=True)
    state._set_page(20, 120)
    assert (state.offset, state.range_label, state.has_previous, state.has_next) == (
        100, "101–120 of 120", True, False)
    state._turn_page(forward=True)      # no page after the last
    assert state.offset == 100
    for _ in range(3):                  # nor before the first
        state._turn_page(forward=False)
    assert state.offset == 0
