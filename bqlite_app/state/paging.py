"""A list the page shows a page at a time (the job history, the audit log): where it is, and what its pager says.

``PagingMixin`` holds the offset, the total and how many rows the page holds, and gives the pager its label and
its two buttons' states. Each state keeps its own rows and its own reload: turning the page only moves the offset.
"""

from __future__ import annotations

from typing import ClassVar

import reflex as rx


def range_label(offset: int, shown: int, total: int, empty: str) -> str:
    """``1–50 of 1,234``, or ``empty`` when there is nothing to show."""
    if not total:
        return empty
    return f"{offset + 1:,}–{offset + shown:,} of {total:,}"


class PagingMixin(rx.State, mixin=True):
    """The pager of a list of ``PAGE_SIZE`` rows a page; ``EMPTY_LABEL`` is what it says when the list is empty."""

    PAGE_SIZE: ClassVar[int] = 50
    EMPTY_LABEL: ClassVar[str] = "Nothing to show"

    total: int = 0
    offset: int = 0
    # Rows on the page now: the label counts them, since the last page is usually short.
    shown: int = 0

    @rx.var
    def range_label(self) -> str:
        return range_label(self.offset, self.shown, self.total, self.EMPTY_LABEL)

    @rx.var
    def has_previous(self) -> bool:
        return self.offset > 0

    @rx.var
    def has_next(self) -> bool:
        return self.offset + self.PAGE_SIZE < self.total

    def _set_page(self, shown: int, total: int) -> None:
        # Assign only what changed: an unchanged poll then sends nothing to the browser.
        if shown != self.shown:
            self.shown = shown
        if total != self.total:
            self.total = total

    def _turn_page(self, forward: bool) -> None:
        """Move a page back, or forward when there is a next page; the state reloads its rows after."""
        if not forward:
            self.offset = max(0, self.offset - self.PAGE_SIZE)
        elif self.offset + self.PAGE_SIZE < self.total:
            self.offset += self.PAGE_SIZE
