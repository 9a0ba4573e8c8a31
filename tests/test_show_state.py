"""The show's rules on its state, and the stores that keep it: memory and Redis run one suite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from service.core.errors import Code, ShowError
from service.core.ports import Store
from service.core.roles import Role
from service.core.state import ShowState
from service.dev.redis_server import RedisServer
from service.stores.memory import MemoryStore
from service.stores.redis import RedisStore

STALE = 60.0


def refusal(call: Callable[..., Any], *args: Any) -> ShowError:
    with pytest.raises(ShowError) as caught:
        call(*args)
    return caught.value


def hosted(host: str = "h") -> ShowState:
    state = ShowState("r")
    state.claim_host(host, host.upper(), 0.0, STALE)
    return state


def test_one_host_per_room() -> None:
    state = ShowState("r")
    assert state.claim_host("h1", "H", 1.0, STALE) is True
    assert state.claim_host("h1", "H", 2.0, STALE) is False  # the host again: no change
    error = refusal(state.claim_host, "h2", "H2", 3.0, STALE)
    assert (error.code, error.message) == (Code.ALREADY_EXISTS, "Room already has a host")
    assert state.host is not None and state.host.since == 1.0


def test_a_host_who_never_connects_stops_blocking_the_room() -> None:
    state = ShowState("r")
    state.claim_host("h1", "H", 0.0, STALE)
    assert refusal(state.claim_host, "h2", "H2", STALE - 1, STALE).code is Code.ALREADY_EXISTS
    assert state.claim_host("h2", "H2", STALE, STALE) is True
    assert state.host is not None and state.host.identity == "h2"
    # A connected host is never displaced, however long ago it claimed the room.
    state.connected("h2", "PA_h2")
    assert refusal(state.claim_host, "h3", "H3", 10 * STALE, STALE).code is Code.ALREADY_EXISTS


def test_an_invitation_waits_for_the_viewer_unless_the_hand_is_up() -> None:
    state = hosted()
    assert state.invite("v1", 10.0, 60.0, 1) is False
    assert state.invitations == {"v1": 70.0} and state.guests == []
    state.set_hand("v2", True, 11.0, 1)
    assert state.invite("v2", 12.0, 60.0, 1) is True  # both agree: on stage at once
    assert state.role_of("v2") is Role.GUEST and "v2" not in state.hands


def test_accepting_declining_and_expiry() -> None:
    state = hosted()
    state.invite("v1", 0.0, 60.0, 1)
    state.decline("v1", 1.0)
    assert refusal(state.accept, "v1", 2.0, 1).message == "No pending invitation for v1"
    state.invite("v1", 10.0, 60.0, 1)
    assert refusal(state.accept, "v1", 70.0, 1).code is Code.NOT_FOUND  # expired
    state.invite("v1", 100.0, 60.0, 1)
    state.accept("v1", 159.0, 1)
    assert state.role_of("v1") is Role.GUEST and state.invitations == {}


def test_raising_a_hand_while_invited_accepts() -> None:
    state = hosted()
    state.invite("v1", 0.0, 60.0, 1)
    assert state.set_hand("v1", True, 1.0, 1) is True
    assert state.role_of("v1") is Role.GUEST


def test_the_stage_never_holds_more_guests_than_the_limit() -> None:
    state = hosted()
    for viewer in ("a", "b", "c"):
        state.invite(viewer, 0.0, 60.0, 2)
    state.accept("a", 1.0, 2)
    state.accept("b", 1.0, 2)
    error = refusal(state.accept, "c", 1.0, 2)
    assert (error.code, error.message) == (Code.PERMISSION_DENIED, "Room already has a guest")
    assert refusal(state.invite, "d", 1.0, 60.0, 2).message == "Room already has a guest"
    state.set_guest_limit(3)
    state.accept("c", 1.0, 2)  # the room's own limit wins over the service default
    assert [g.identity for g in state.guests] == ["a", "b", "c"]


def test_hands_queue_in_the_order_raised_and_only_viewers_raise() -> None:
    state = hosted()
    state.set_hand("b", True, 2.0, 1)
    state.set_hand("a", True, 3.0, 1)
    state.set_hand("b", True, 9.0, 1)  # raising again keeps the place in the queue
    assert list(state.hands) == ["b", "a"] and state.hands["b"] == 2.0
    assert refusal(state.set_hand, "h", True, 4.0, 1).code is Code.FAILED_PRECONDITION
    state.set_hand("b", False, 5.0, 1)
    assert list(state.hands) == ["a"]


def test_a_departure_frees_the_seat_but_late_or_repeated_news_does_not() -> None:
    state = hosted()
    state.connected("h", "PA_new")
    assert state.left("h", "PA_old", 50.0) is None  # an older connection of the same host
    assert state.host is not None
    assert state.left("h", "PA_new", 50.0) is Role.HOST
    assert state.left("h", "PA_new", 50.0) is None  # the same event again
    state.claim_host("h2", "H2", 100.0, STALE)
    assert state.left("h2", "", 99.0) is None  # happened before this claim
    assert state.left("h2", "", 101.0) is Role.HOST


def test_state_round_trips_through_json() -> None:
    state = hosted()
    state.set_hand("v", True, 3.5, 1)
    state.invite("w", 4.0, 60.0, 1)
    state.set_guest_limit(2)
    state.invite("v", 5.0, 60.0, 2)
    assert ShowState.from_json(state.to_json()) == state


# --- stores ------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    else:
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisStore.from_url(redis_server.url)
    yield made
    await made.close()


@pytest.fixture
def key() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


async def test_store_keeps_changes_and_drops_refused_ones(store: Store, key: str) -> None:
    await store.update(key, lambda s: s.claim_host("h", "H", 1.0, STALE))

    def refused_change(state: ShowState) -> None:
        state.set_hand("v", True, 2.0, 1)
        state.claim_host("intruder", "I", 3.0, STALE)  # raises after a partial change

    with pytest.raises(ShowError):
        await store.update(key, refused_change)
    kept = await store.load(key)
    assert kept.host is not None and kept.host.identity == "h"
    assert kept.hands == {}  # the partial change was not saved


async def test_store_updates_are_atomic_under_concurrency(store: Store, key: str) -> None:
    async def claim(identity: str) -> bool:
        try:
            await store.update(key, lambda s: s.claim_host(identity, identity, 0.0, STALE))
            return True
        except ShowError:
            return False

    wins = await asyncio.gather(*(claim(f"h{i}") for i in range(50)))
    assert sum(wins) == 1


async def test_store_counts_concurrent_hands_exactly(store: Store, key: str) -> None:
    await store.update(key, lambda s: s.claim_host("h", "H", 0.0, STALE))

    def raise_hand(i: int) -> Callable[[ShowState], bool]:
        return lambda s: s.set_hand(f"v{i}", True, float(i), 1)

    await asyncio.gather(*(store.update(key, raise_hand(i)) for i in range(30)))
    assert len((await store.load(key)).hands) == 30


async def test_store_forgets_deleted_and_empty_rooms(store: Store, key: str) -> None:
    await store.update(key, lambda s: s.claim_host("h", "H", 1.0, STALE))
    await store.delete(key)
    assert (await store.load(key)).is_empty
    await store.update(key, lambda s: s.claim_host("h", "H", 1.0, STALE))
    await store.update(key, lambda s: s.forget("h"))
    assert (await store.load(key)).is_empty


async def test_room_locks_are_forgotten_once_unused() -> None:
    store = MemoryStore()
    for i in range(200):
        await store.update(f"room-{i}", lambda s: s.claim_host("h", "H", 0.0, STALE))
    assert len(store._locks) == 0


def test_a_participants_standing_can_be_put_back_after_a_refused_promotion() -> None:
    state = hosted()
    state.set_hand("a", True, 1.0, 1)
    state.set_hand("v", True, 2.0, 1)
    state.set_hand("b", True, 3.0, 1)
    before = state.standing("v")
    assert state.invite("v", 4.0, 60.0, 1) is True  # on stage, hand down
    state.restore("v", before)  # LiveKit refused: undo
    assert state.role_of("v") is Role.VIEWER and state.guests == []
    assert list(state.hands) == ["a", "v", "b"] and state.hands["v"] == 2.0
