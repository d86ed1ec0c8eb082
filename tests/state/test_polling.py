"""The one poller the live pages share: rounds, events, the guard, and where the lock is held."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bqlite_app.state.polling import DONE, NEXT, Applied, poll
from tests.conftest import run_coroutine


class FakeState:
    """Stands in for a background event's state proxy: ``async with`` is the lock, and it records who held it."""

    def __init__(self) -> None:
        self.router = SimpleNamespace(session=SimpleNamespace(client_token="tab-1"))
        self._watching = False
        self.locked = False
        self.queue: list[str] = []
        self.shown: list[str] = []

    async def __aenter__(self) -> FakeState:
        assert not self.locked, "the lock is not reentrant"
        self.locked = True
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.locked = False


def run(gen: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [event async for event in gen]

    return run_coroutine(collect())


def test_rounds_read_and_apply_under_the_lock_and_fetch_and_pause_outside_it():
    state, calls = FakeState(), []
    state.queue = ["a", "b", "c"]

    def read() -> str | None:
        assert state.locked
        return state.queue[0] if state.queue else None

    async def fetch(item: str) -> str:
        assert not state.locked
        calls.append(f"fetch {item}")
        return item.upper()

    def apply(item: str, answer: str) -> Applied:
        assert state.locked
        state.queue.pop(0)
        state.shown.append(answer)
        return Applied(events=(f"shown {answer}",))

    async def pause(item: str, answer: str) -> None:
        assert not state.locked
        calls.append(f"pause {item}")

    events = run(poll(state, read=read, fetch=fetch, apply=apply, pause=pause))
    assert events == ["shown A", "shown B", "shown C"]
    assert calls == ["fetch a", "pause a", "fetch b", "pause b", "fetch c", "pause c"]
    assert state.shown == ["A", "B", "C"]


def test_done_ends_the_poll_without_another_pause():
    state, pauses = FakeState(), []

    async def fetch(_: int) -> int:
        return 1

    async def pause(*_: Any) -> None:
        pauses.append(1)

    assert run(poll(state, read=lambda: 1, fetch=fetch, apply=lambda *_: DONE, pause=pause)) == []
    assert pauses == []


def test_the_guard_lets_one_poller_run_and_is_released_when_nothing_is_left():
    state = FakeState()
    state.queue = ["a"]

    async def fetch(item: str) -> str:
        # A second start while this one runs does nothing.
        second = poll(state, read=lambda: "x", fetch=fetch, apply=lambda *_: DONE, pause=no_pause, guard="_watching")
        assert [event async for event in second] == []
        return item

    def apply(item: str, answer: str) -> Applied:
        state.queue.pop(0)
        return NEXT

    assert run(poll(state, read=lambda: state.queue[0] if state.queue else None, fetch=fetch, apply=apply,
                    pause=no_pause, guard="_watching")) == []
    assert state._watching is False


def test_the_guard_is_released_when_a_round_fails():
    state = FakeState()

    async def fetch(_: int) -> int:
        raise RuntimeError("the core is stopping")

    with pytest.raises(RuntimeError):
        run(poll(state, read=lambda: 1, fetch=fetch, apply=lambda *_: NEXT, pause=no_pause, guard="_watching"))
    assert state._watching is False


async def no_pause(*_: Any) -> None:
    return None

