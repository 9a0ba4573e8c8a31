"""Prometheus metrics: what every door served, what LiveKit was asked, what the show did, and
gauges of the shows in progress. Each instance exports its own at GET /metrics."""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Iterator

import prometheus_client.metrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from service.core.ports import Stage
from service.core.record import ShowRecords

log = logging.getLogger("showrunner.metrics")

# Rooms written to within this long count for the gauges; a room's record expires after its idle
# time anyway (SHOW_ROOM_IDLE_SECONDS).
ACTIVE_SECONDS = 7 * 24 * 3600.0
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Also the core's ShowObserver and the gateway's LiveKit call observer."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Served(_LATENCY_BUCKETS)
        r.register(self.requests)
        self.livekit_calls = Counter(
            "showrunner_livekit_calls",
            "LiveKit server API calls, by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.livekit_seconds = Histogram(
            "showrunner_livekit_call_duration_seconds", "Time LiveKit took to answer", ["method"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.promotions = Counter("showrunner_promotions", "Viewers brought on stage", registry=r)
        self.demotions = Counter("showrunner_demotions", "Guests off the stage, by how", ["how"], registry=r)
        self.rate_limit_refusals = Counter(
            "showrunner_rate_limit_refusals", "Requests refused by rate limits, by bucket", ["bucket"], registry=r
        )
        self.reconciler_actions = Counter(
            "showrunner_reconciler_actions",
            "What the reconciler did to make the record and LiveKit agree, by action",
            ["action"],
            registry=r,
        )
        self.webhooks = Counter(
            "showrunner_webhook_events", "LiveKit webhooks, by event and verdict", ["event", "verdict"], registry=r
        )
        self.rooms = Gauge("showrunner_rooms", "Rooms with show state on this store", registry=r)
        self.participants = Gauge("showrunner_participants", "Participants by role", ["role"], registry=r)
        self.raised_hands = Gauge("showrunner_raised_hands", "Hands raised and waiting", registry=r)
        self.pending_invitations = Gauge("showrunner_pending_invitations", "Invitations awaiting an answer", registry=r)
        self.active_recordings = Gauge("showrunner_active_recordings", "Recordings in progress", registry=r)
        self.gauge_failures = Counter(
            "showrunner_gauge_refresh_failures",
            "Scrapes whose show gauges could not be read (the store or LiveKit did not answer) and were left out",
            registry=r,
        )
        self._gauges = (
            self.rooms, self.participants, self.raised_hands, self.pending_invitations, self.active_recordings
        )  # fmt: skip
        self._without_gauges = _Without(self.registry, {g._name for g in self._gauges})

        # Every LiveKit call counts and times itself; the labelled children are looked up here
        # once per label set rather than through labels(), which validates and locks on each call.
        self._called: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    # --- doors -------------------------------------------------------------------------

    def served(self, rpc: str, door: str, code: str, seconds: float) -> None:
        self.requests.served(rpc, door, code, seconds)

    def refused(self, rpc: str, code: str) -> None:
        """A request refused before the chain (service.doors.edges.Refused)."""
        self.requests.refused(rpc, code)

    # --- gateway ------------------------------------------------------------------------

    def livekit_call(self, method: str, outcome: str, seconds: float) -> None:
        key = (method, outcome)
        children = self._called.get(key)
        if children is None:
            children = self._called[key] = (
                self.livekit_calls.labels(method, outcome),
                self.livekit_seconds.labels(method),
            )
        children[0].inc()
        children[1].observe(seconds)

    # --- the core's ShowObserver ------------------------------------------------------------

    def promoted(self) -> None:
        self.promotions.inc()

    def demoted(self, how: str) -> None:
        self.demotions.labels(how).inc()

    def rate_limited(self, bucket: str) -> None:
        self.rate_limit_refusals.labels(bucket).inc()

    def webhook(self, event: str, verdict: str) -> None:
        self.webhooks.labels(event, verdict).inc()

    def reconciled(self, action: str) -> None:
        self.reconciler_actions.labels(action).inc()

    # --- scraping -----------------------------------------------------------------------

    async def render(self, records: ShowRecords, stage: Stage, now: float) -> bytes:
        """The exposition, with the gauges read fresh from the record and LiveKit. When they cannot
        be read, the scrape leaves them out rather than repeat stale values as if fresh, and
        counts the failure; the counters are still exported."""
        try:
            await self._refresh(records, stage, now)
        except Exception as exc:
            log.warning("could not refresh show gauges: %s", exc)
            self.gauge_failures.inc()
            return generate_latest(self._without_gauges)
        return generate_latest(self.registry)

    async def _refresh(self, records: ShowRecords, stage: Stage, now: float) -> None:
        """One read of each room's small stage record (never its hands or audience): the cost
        grows with the number of rooms, not with their size."""
        livekit_rooms = await stage.list_rooms()
        # The rooms written to lately, and this deployment's rooms LiveKit has: a long show that
        # writes nothing is kept (the reconciler's keep_alive) but not marked as written to.
        names = set(await records.active_rooms(now - ACTIVE_SECONDS))
        names.update(room.name for room in livekit_rooms if stage.ours(room))
        stages = [await records.stage(name, now) for name in sorted(names)]
        stages = [s for s in stages if not s.is_empty]
        # LiveKit lists every room it has: another deployment's shows, or another application's
        # rooms, on the same LiveKit hold none of this deployment's viewers.
        held = {s.room for s in stages}
        connected = {
            room.name: room.num_participants for room in livekit_rooms if room.name in held or stage.ours(room)
        }
        hosts = sum(1 for s in stages if s.host is not None)
        guests = sum(len(s.guests) for s in stages)
        seated = sum(s.connected_seats for s in stages if s.room in connected)
        self.rooms.set(len(stages))
        self.participants.labels("host").set(hosts)
        self.participants.labels("guest").set(guests)
        self.participants.labels("viewer").set(max(0, sum(connected.values()) - seated))
        self.raised_hands.set(sum(s.hands for s in stages))
        self.pending_invitations.set(sum(s.invitations for s in stages))
        self.active_recordings.set(sum(1 for s in stages if s.active_recording() is not None))


class _Without:
    """A view of a registry without some of its metrics: what a scrape exports when the show
    gauges cannot be read."""

    def __init__(self, registry: CollectorRegistry, names: set[str]) -> None:
        self._registry, self._names = registry, names

    def collect(self) -> Iterator[Metric]:
        return (metric for metric in self._registry.collect() if metric.name not in self._names)


class Served:
    """showrunner_requests (a counter) and showrunner_request_duration_seconds (a histogram),
    exported exactly as prometheus_client's Counter and Histogram export them, but kept in plain
    numbers: every request passes here, and those take a lock per number and walk the buckets in
    Python (a tenth of a cached read's cost). Only the event loop's thread serves requests and
    renders /metrics, so nothing here needs a lock."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self._bounds = [*buckets, float("inf")]
        self._les = [floatToGoString(b) for b in self._bounds]  # type: ignore[no-untyped-call]
        # (rpc, door, code) -> [count, created]; (rpc, door) -> [count per bucket..., sum, created]
        self._counts: dict[tuple[str, str, str], list[float]] = {}
        self._times: dict[tuple[str, str], list[float]] = {}

    def served(self, rpc: str, door: str, code: str, seconds: float) -> None:
        counted = self._counts.get((rpc, door, code))
        if counted is None:
            counted = self._counts[(rpc, door, code)] = [0, time.time()]
        counted[0] += 1
        timed = self._times.get((rpc, door))
        if timed is None:
            timed = self._times[(rpc, door)] = [0] * len(self._bounds) + [0.0, time.time()]
        timed[bisect.bisect_left(self._bounds, seconds)] += 1  # the first bucket with seconds <= le
        timed[-2] += seconds

    def refused(self, rpc: str, code: str) -> None:
        """A request refused at the edge, before the chain: counted under the door "edge", not
        timed (uvicorn's own refusals were never ours to time)."""
        counted = self._counts.get((rpc, EDGE, code))
        if counted is None:
            counted = self._counts[(rpc, EDGE, code)] = [0, time.time()]
        counted[0] += 1

    def value(self, rpc: str, door: str, code: str) -> float:
        """The requests counted with these labels."""
        counted = self._counts.get((rpc, door, code))
        return float(counted[0]) if counted else 0.0

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(_REQUESTS, _REQUESTS_HELP, labels=("rpc", "door", "code"))
        yield HistogramMetricFamily(_DURATION, _DURATION_HELP, labels=("rpc", "door"))

    def collect(self) -> Iterator[Metric]:
        # prometheus_client leaves out the _created series when told to (its
        # PROMETHEUS_DISABLE_CREATED_SERIES setting); so do these.
        created = getattr(prometheus_client.metrics, "_use_created", True)
        requests = CounterMetricFamily(_REQUESTS, _REQUESTS_HELP, labels=("rpc", "door", "code"))
        for outcome, (count, since) in self._counts.items():
            requests.add_metric(outcome, float(count), created=since if created else None)
        yield requests
        durations = HistogramMetricFamily(_DURATION, _DURATION_HELP, labels=("rpc", "door"))
        for rpc_door, timed in self._times.items():
            cumulative, running = [], 0.0
            for le, count in zip(self._les, timed, strict=False):
                running += count
                cumulative.append((le, running))
            durations.add_metric(rpc_door, cumulative, timed[-2])
            if created:
                durations.samples.append(
                    Sample(_DURATION + "_created", dict(zip(("rpc", "door"), rpc_door, strict=True)), timed[-1])
                )
        yield durations


_REQUESTS, _REQUESTS_HELP = "showrunner_requests", "Requests served, by RPC, door and result code"
# The door of the requests refused before any door's chain ran.
EDGE = "edge"
_DURATION, _DURATION_HELP = "showrunner_request_duration_seconds", "Time to serve a request"
