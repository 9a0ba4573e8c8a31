"""The show's rules on its state, and the stores that keep it (each store runs the same suite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from service.core.errors import Code, ShowError
from service.core.ports import Store
from service.core.roles import Role
from service.core.state import ShowState
from service.stores.memory import MemoryStore


def refusal(call: object, *args: object) -> ShowError:
    with pytest.raises(ShowError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_one_host_per_room() -> None:
    state = ShowState("r")
    assert state.claim_host("h1", "H", 1.0) is True
    assert state.claim_host("h1", "H", 2.0) is False  # the host again: no change
    error = refusal(state.claim_host, "h2", "H2", 3.0)
    assert (error.code, error.message) == (Code.ALREADY_EXISTS, "Room already has a host")
    assert state.host is not None and state.host.since == 1.0


def test_guest_seats_follow_the_limit_and_only_the_host_fills_them() -> None:
    state = ShowState("r")
    state.claim_host("h", "H", 0)
    error = refusal(state.seat_guest, "v1", "v2", "V2", 1.0, 1)
    assert (error.code, error.message) == (
        Code.PERMISSION_DENIED,
        "Only the host can promote viewers to guest",
    )
    state.seat_guest("h", "v1", "V1", 1.0, 1)
    error = refusal(state.seat_guest, "h", "v2", "V2", 2.0, 1)
    assert (error.code, error.message) == (Code.PERMISSION_DENIED, "Room already has a guest")
    state.seat_guest("h", "v2", "V2", 2.0, 2)  # a room configured for two guests
    assert [g.identity for g in state.guests] == ["v1", "v2"]
    assert (
        state.role_of("v2") is Role.GUEST
        and state.role_of("h") is Role.HOST
        and state.role_of("x") is Role.VIEWER
    )


def test_hands_queue_in_the_order_raised_and_only_viewers_raise() -> None:
    state = ShowState("r")
    state.claim_host("h", "H", 0)
    state.set_hand("b", True, 2.0)
    state.set_hand("a", True, 3.0)
    state.set_hand("b", True, 9.0)  # raising again keeps the place in the queue
    assert list(state.hands) == ["b", "a"] and state.hands["b"] == 2.0
    assert refusal(state.set_hand, "h", True, 4.0).code is Code.FAILED_PRECONDITION
    state.set_hand("b", False, 5.0)
    assert list(state.hands) == ["a"]


def test_forgetting_a_participant_frees_what_they_held() -> None:
    state = ShowState("r")
    state.claim_host("h", "H", 0)
    state.seat_guest("h", "g", "G", 1.0, 1)
    state.set_hand("v", True, 2.0)
    assert state.forget("g") is Role.GUEST and state.guests == []
    assert state.forget("v") is Role.VIEWER and state.hands == {}
    assert state.forget("h") is Role.HOST and state.host is None
    assert state.is_empty


def test_state_round_trips_through_json() -> None:
    state = ShowState("r")
    state.claim_host("h", "Host", 1.5)
    state.seat_guest("h", "g", "G", 2.5, 1)
    state.set_hand("v", True, 3.5)
    assert ShowState.from_json(state.to_json()) == state


@pytest.fixture(params=["memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    made: Store = MemoryStore()
    yield made
    await made.close()


async def test_store_keeps_changes_and_drops_refused_ones(store: Store) -> None:
    await store.update("r", lambda s: s.claim_host("h", "H", 1.0))

    def refused_change(state: ShowState) -> None:
        state.set_hand("v", True, 2.0)
        state.claim_host("intruder", "I", 3.0)  # raises after a partial change

    with pytest.raises(ShowError):
        await store.update("r", refused_change)
    kept = await store.load("r")
    assert kept.host is not None and kept.host.identity == "h"
    assert kept.hands == {}  # the partial change was not saved


async def test_store_updates_are_atomic_under_concurrency(store: Store) -> None:
    async def claim(identity: str) -> bool:
        try:
            await store.update("race", lambda s: s.claim_host(identity, identity, 0.0))
            return True
        except ShowError:
            return False

    wins = await asyncio.gather(*(claim(f"h{i}") for i in range(50)))
    assert sum(wins) == 1


async def test_store_forgets_deleted_and_empty_rooms(store: Store) -> None:
    await store.update("r", lambda s: s.claim_host("h", "H", 1.0))
    await store.delete("r")
    assert (await store.load("r")).is_empty
    await store.update("r2", lambda s: s.claim_host("h", "H", 1.0))
    await store.update("r2", lambda s: s.forget("h"))
    assert (await store.load("r2")).is_empty
