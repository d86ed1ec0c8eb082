"""The one shape of the UI's live views: read what to follow, ask the core, apply, wait, until nothing is left.

The job history, the job detail page and the workspace's running job all follow the core the same way, from a
background event. Each round holds ``async with state`` only to read its inputs and to apply the answer; the wait and
the core call happen outside the lock (the call in a worker thread), so the page stays responsive. The guards differ
and stay with the caller:
- *latest wins*: a generation number that ``read`` and ``apply`` compare, so a newer watcher retires an older one;
- *one at a time*: ``guard`` names a bool attribute claimed before the first round and released when the poll
  ends, under the same lock that saw nothing left to follow (so a job shown meanwhile is never missed) or in
  ``finally``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import reflex as rx

K = TypeVar("K")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class Applied:
    """What ``apply`` made of one round: events to send to the page, and whether the poll is over."""

    done: bool = False
    events: tuple[Any, ...] = ()


NEXT = Applied()
DONE = Applied(done=True)


def client_connected(token: str) -> bool:
    """Whether the browser tab behind ``token`` still has its websocket, so the watchers of a closed tab stop.

    Reflex's documented check for background tasks (docs: Events > Background Tasks): the client token is in the
    app's ``event_namespace.token_to_sid``.
    """
    # The app module imports the pages, which import the states: import it when first needed, not at import time.
    from bqlite_app.bqlite_app import app

    namespace = app.event_namespace
    return namespace is None or token in namespace.token_to_sid


async def poll(
    state: rx.State,
    *,
    read: Callable[[], K | None],
    fetch: Callable[[K], Awaitable[R]],
    apply: Callable[[K, R], Applied],
    pause: Callable[[K, R], Awaitable[Any]],
    stop_when_tab_closed: bool = False,
    guard: str | None = None,
) -> AsyncIterator[Any]:
    """Follow the core from a background event; yields the events ``apply`` asks for.

    Each round: ``read()`` under the lock gives the round's inputs (None: nothing to follow, the poll ends);
    ``fetch(inputs)`` asks the core outside the lock; ``apply(inputs, answer)`` under the lock updates the state and
    says what next; ``pause(inputs, answer)`` waits before the next round (a sleep, or a wait on the job).
    """
    if guard is not None:
        async with state:
            if getattr(state, guard):
                return
            setattr(state, guard, True)
    async with state:
        token = state.router.session.client_token
    released = guard is None
    try:
        while True:
            async with state:
                inputs = read()
                if inputs is None:
                    if guard is not None:
                        setattr(state, guard, False)
                        released = True
                    return
            if stop_when_tab_closed and not client_connected(token):
                return
            answer = await fetch(inputs)
            async with state:
                step = apply(inputs, answer)
            for event in step.events:
                yield event
            if step.done:
                return
            await pause(inputs, answer)
    finally:
        if not released:
            async with state:
                setattr(state, guard, False)  # type: ignore[arg-type]  (released is False only with a guard)
