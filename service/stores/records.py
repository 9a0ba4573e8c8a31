"""Which store keeps the show's record, from the settings: in process without SHOW_REDIS_URL,
otherwise Redis, as one node or as a Redis Cluster (SHOW_REDIS_CLUSTER=true, SHOW_REDIS_URL
naming any node)."""

from __future__ import annotations

from service.config import Settings, redacted_url
from service.core.errors import ShowError
from service.core.record import ShowRecords
from service.stores.memory_record import MemoryRecords
from service.stores.redis_record import STORE_ERRORS, RedisRecords, connect

# Beyond the longest a living instance holds a recording's placeholder (the egress call), so that
# a slow StartRecording is never overtaken and two egresses never run.
STARTING_MARGIN_SECONDS = 10.0


class StoreUnreachable(Exception):
    pass


def starting_seconds_for(settings: Settings, change_seconds: float) -> float:
    """How long a recording or stream may be held as starting (its placeholder): past it, no
    call can still be waiting on LiveKit's answer for it."""
    return max(change_seconds, settings.egress_timeout_seconds) + STARTING_MARGIN_SECONDS


async def open_records(settings: Settings, change_seconds: float = 10.0) -> ShowRecords:
    """The record store the settings ask for, once it answers."""
    starting_seconds = starting_seconds_for(settings, change_seconds)
    if not settings.redis_url:
        return MemoryRecords(
            idle_seconds=settings.room_idle_seconds,
            change_seconds=change_seconds,
            history_entries=settings.history_entries,
            starting_seconds=starting_seconds,
        )
    records = RedisRecords(
        connect(settings.redis_url, cluster=settings.redis_cluster),
        idle_seconds=settings.room_idle_seconds,
        change_seconds=change_seconds,
        history_entries=settings.history_entries,
        # Reads may lag another instance's change to the record as long as LiveKit's (room cache).
        read_seconds=settings.room_cache_seconds,
        starting_seconds=starting_seconds,
    )
    try:
        await records.ping()
    except (ShowError, *STORE_ERRORS) as exc:
        await records.close()
        kind = "Redis Cluster node" if settings.redis_cluster else "Redis"
        reason = exc.message if isinstance(exc, ShowError) else str(exc)
        # The URL may hold Redis' password: the refusal names it without.
        shown = redacted_url(settings.redis_url)
        raise StoreUnreachable(f"SHOW_REDIS_URL {shown} cannot be reached ({kind}): {reason}") from exc
    return records
