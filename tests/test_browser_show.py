"""The show in a real browser: Debian's chromium with a fake camera and microphone plays the host
studio and the watch pages against the real LiveKit and the real service. The drivers are node
scripts in tests/browser/ using playwright-core with the system browser. Needs the pages built:
`make web` (make test does)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from livekit.protocol import egress as lk_egress

from service.dev.livekit_server import LiveKitDevServer, free_port
from service.doors.web import WEB_DIR
from tests.conftest import (
    API_KEY,
    API_SECRET,
    RECORDING_PATH,
    ROOT,
    STREAM_KEYS,
    STREAM_URLS,
    ServiceProcess,
    admin_token,
    start_service,
)
from tests.doors import TwirpClient
from tests.egress_standin import EgressStandIn
from tests.live import LiveParticipant


def play(script: str, service: ServiceProcess, room: str, out: Path, **more_env: str) -> None:
    """Runs tests/browser/<script> against `service` (with `more_env` in its environment); fails
    with its story and where its screenshots are if any step fails."""
    assert (WEB_DIR / "index.html").is_file(), "the web app is not built: run `make web`"
    assert (ROOT / "node_modules" / "playwright-core").is_dir(), "npm packages are missing: run `make npm`"
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"
    env = {
        **os.environ,
        "BASE_URL": service.http_base,
        "ROOM": room,
        "ADMIN_TOKEN": admin_token(room),
        # Where a story reads LiveKit's own view of the room (its RoomService, with the admin token).
        "LIVEKIT_URL": service.livekit_url,
        "OUT_DIR": str(out),
        # `make screenshots` points this at docs/ to refresh the README's pictures.
        "SCREENSHOTS_DIR": os.environ.get("SHOW_SCREENSHOTS_DIR", str(out)),
        **more_env,
    }
    driver = ROOT / "tests" / "browser" / script
    try:
        run = subprocess.run([node, str(driver)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=150)
    except subprocess.TimeoutExpired as exc:
        said = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"{script} did not finish in 150 s; see {out}\n{said}")
    sys.stdout.write(run.stdout)
    assert run.returncode == 0, f"{script} failed; screenshots in {out}\n{run.stdout}{run.stderr}"


@contextmanager
def own_stack(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> Iterator[ServiceProcess]:
    """A LiveKit and a service of their own, LiveKit's webhooks going to that service: they must
    reach the service that holds the show, since another instance, knowing nothing of its room,
    would take the connected host's publish permission back."""
    http_port = free_port()
    livekit = LiveKitDevServer(
        api_key=API_KEY,
        api_secret=API_SECRET,
        log_path=tmp_path_factory.mktemp(name) / "livekit-server.log",
        webhook_urls=[f"http://127.0.0.1:{http_port}/webhooks/livekit"],
    ).start()
    try:
        running = start_service(livekit, SHOW_HTTP_PORT=str(http_port), **env)
        try:
            yield running
        finally:
            running.stop()
    finally:
        livekit.stop()


@pytest.fixture(scope="module")
def studio_with_recorder(tmp_path_factory: pytest.TempPathFactory, egress: EgressStandIn) -> Iterator[ServiceProcess]:
    """The service's egress calls going to the stand-in. Its grace window is production's: a
    participant who reloads its page keeps its place."""
    with own_stack(
        tmp_path_factory,
        "livekit-recording",
        SHOW_EGRESS_URL=egress.url,
        SHOW_RECORDING_FILEPATH=RECORDING_PATH,
        SHOW_RECONNECT_GRACE_SECONDS="30",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def studio_without_destinations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A service with no stream destination configured."""
    with own_stack(tmp_path_factory, "livekit-no-streams", SHOW_STREAM_DESTINATIONS="") as running:
        yield running


@contextmanager
def egress_telling(egress: EgressStandIn, service: ServiceProcess, unreachable: str = "") -> Iterator[None]:
    """While in it, the egress stand-in tells `service` of its egresses' progress (webhooks, as
    LiveKit's egress does), and cannot reach the `unreachable` stream URL."""
    egress.webhooks_to, egress.unreachable = service.http_base, unreachable
    try:
        yield
    finally:
        egress.webhooks_to, egress.unreachable = "", ""


def test_a_whole_show_plays_in_the_browser(service: ServiceProcess, room: str, tmp_path: Path) -> None:
    play("show.mjs", service, room, tmp_path / "browser")


def test_the_host_records_from_the_studio(
    studio_with_recorder: ServiceProcess, egress: EgressStandIn, room: str, tmp_path: Path
) -> None:
    worker, egress.worker_seconds = egress.worker_seconds, 5.0  # the last recording still ends as the next starts
    try:
        with egress_telling(egress, studio_with_recorder):
            play("recording.mjs", studio_with_recorder, room, tmp_path / "browser")
    finally:
        egress.worker_seconds = worker
    asked = egress.changes_about(room)
    assert [method for method, _ in asked] == ["StartRoomCompositeEgress", "StopEgress"] * 2, asked
    started = asked[0][1]
    assert isinstance(started, lk_egress.RoomCompositeEgressRequest)
    assert (started.room_name, started.layout) == (room, "speaker")


def test_the_host_restreams_from_the_studio(
    studio_with_recorder: ServiceProcess, egress: EgressStandIn, room: str, tmp_path: Path
) -> None:
    """Go out to youtube, add twitch and remove youtube while live, reload, stop, go out to twitch
    and fail, go out to youtube, the room's admin adding and removing twitch, and end the show:
    the studio follows the stream on its events, LiveKit's egress was asked for the configured
    URLs, and the page never saw a stream key (restream.mjs)."""
    # The stand-in plays the egress worker too, which cannot reach twitch's server on a new stream.
    with egress_telling(egress, studio_with_recorder, unreachable=STREAM_URLS["twitch"]):
        keys = ",".join(STREAM_KEYS.values())
        play("restream.mjs", studio_with_recorder, room, tmp_path / "browser", STREAM_KEYS=keys)
    asked = egress.changes_about(room)
    start, update = "StartRoomCompositeEgress", "UpdateStream"
    assert [method for method, _ in asked] == [start, update, update, "StopEgress", start, start, update, update]
    started, added, removed, stopped, again, last, admin_added, admin_removed = (sent for _, sent in asked)
    assert isinstance(started, lk_egress.RoomCompositeEgressRequest)
    assert started.room_name == room
    assert [list(output.urls) for output in started.stream_outputs] == [[STREAM_URLS["youtube"]]]
    assert isinstance(added, lk_egress.UpdateStreamRequest) and isinstance(removed, lk_egress.UpdateStreamRequest)
    assert (list(added.add_output_urls), list(added.remove_output_urls)) == ([STREAM_URLS["twitch"]], [])
    assert (list(removed.add_output_urls), list(removed.remove_output_urls)) == ([], [STREAM_URLS["youtube"]])
    assert isinstance(stopped, lk_egress.StopEgressRequest)
    stream, failed, _ = [info for info in egress.egresses.values() if info.room_name == room]
    assert added.egress_id == removed.egress_id == stopped.egress_id == stream.egress_id
    assert egress.active_urls(stream.egress_id) == [STREAM_URLS["twitch"]]
    assert isinstance(again, lk_egress.RoomCompositeEgressRequest)
    assert [list(output.urls) for output in again.stream_outputs] == [[STREAM_URLS["twitch"]]]
    assert failed.status == lk_egress.EgressStatus.EGRESS_FAILED
    assert isinstance(last, lk_egress.RoomCompositeEgressRequest)
    assert [list(output.urls) for output in last.stream_outputs] == [[STREAM_URLS["youtube"]]]
    # The room's admin added twitch to that stream and took it off again.
    assert isinstance(admin_added, lk_egress.UpdateStreamRequest) and isinstance(
        admin_removed, lk_egress.UpdateStreamRequest
    )
    assert (list(admin_added.add_output_urls), list(admin_removed.remove_output_urls)) == (
        [STREAM_URLS["twitch"]],
        [STREAM_URLS["twitch"]],
    )


def test_the_pages_come_back_to_the_show_after_missing_its_events(
    studio_with_recorder: ServiceProcess, egress: EgressStandIn, room: str, tmp_path: Path
) -> None:
    """The studio cut off the network while the show goes live, its stream ends and a hand goes
    up, a viewer's page cut off while it is invited and hidden while it is made a moderator: back,
    each shows it all within seconds, without a reload (come_back.mjs)."""
    with egress_telling(egress, studio_with_recorder):
        play("come_back.mjs", studio_with_recorder, room, tmp_path / "browser")


def test_the_studio_finds_a_stream_ended_whose_events_it_missed(
    studio_with_recorder: ServiceProcess, egress: EgressStandIn, room: str, tmp_path: Path
) -> None:
    """A lost stream_ended does not leave the studio saying "live": it reads a live stream once
    a minute (restream_lost_end.mjs, a minute long)."""
    with egress_telling(egress, studio_with_recorder):
        play("restream_lost_end.mjs", studio_with_recorder, room, tmp_path / "browser")


def test_the_studio_offers_no_restream_without_destinations(
    studio_without_destinations: ServiceProcess, room: str, tmp_path: Path
) -> None:
    play("restream_none.mjs", studio_without_destinations, room, tmp_path / "browser")


def test_an_unanswered_invitation_says_it_expired(
    tmp_path_factory: pytest.TempPathFactory, room: str, tmp_path: Path
) -> None:
    """A service whose invitations last 3 s: the watch page says when one expired (invitation_expires.mjs)."""
    with own_stack(tmp_path_factory, "livekit-short-invitation", SHOW_INVITATION_SECONDS="3") as running:
        play("invitation_expires.mjs", running, room, tmp_path / "browser")


def test_an_invitation_lasts_by_the_services_clock_not_the_browsers(
    tmp_path_factory: pytest.TempPathFactory, room: str, tmp_path: Path
) -> None:
    """A service whose invitations last 8 s, and viewers whose clocks are a minute fast or slow:
    an invitation is shown again after a reload (within the reconnect grace window, production's
    30 s), and expires on time (skewed_clock.mjs)."""
    with own_stack(
        tmp_path_factory, "livekit-skewed-clock", SHOW_INVITATION_SECONDS="8", SHOW_RECONNECT_GRACE_SECONDS="30"
    ) as running:
        play("skewed_clock.mjs", running, room, tmp_path / "browser")


def test_the_pages_keep_working_past_their_first_tokens_lifetime(
    tmp_path_factory: pytest.TempPathFactory, room: str, tmp_path: Path
) -> None:
    """A service whose tokens last a minute: the studio and a watch page renew theirs before they
    expire, and the viewer's hand and the host's Invite work after the first ones are refused
    (renew.mjs, about 80 s)."""
    with own_stack(tmp_path_factory, "livekit-short-token", SHOW_TOKEN_TTL_SECONDS="60") as running:
        play("renew.mjs", running, room, tmp_path / "browser")


# Each script plays one story against a LiveKit and a service with a recorder (the studio's
# recording controls are on), in pages of its own.
STORIES = {
    "the pages take show events from the service only": "forged.mjs",
    "the studio keeps in step with the show and the host's token": "studio_follows.mjs",
    "a guest keeps its token through a failed rejoin": "rejoin.mjs",
    "a viewer who reloads keeps its raised hand and its invitation": "reload.mjs",
    "a moderator manages the stage from the watch page": "moderator.mjs",
    "the host and a moderator mute a guest, who unmutes itself from its page": "mute.mjs",
    "the studio lists the audience a page at a time and finds a viewer by name": "audience.mjs",
    "a button clicked twice quickly asks the service once": "double_clicks.mjs",
    "the pages say what went wrong in the words of whoever reads them": "trouble.mjs",
    "the pages fit a phone's screen": "narrow.mjs",
    "the pages are made for a screen reader": "accessible.mjs",
    "the studio keeps a keyboard user's focus and a call under way as its lists redraw": "keyboard.mjs",
    "the landing page takes only a room name the service accepts": "landing.mjs",
    "a guest whose page reads the show ended leaves LiveKit": "ended_unheard.mjs",
    "an invitation whose answer did not get through stays to be answered again": "invitation_retry.mjs",
    "a guest whose camera is turned off reloads without starting it": "locked_reload.mjs",
    "a page whose address holds a broken room name says so": "broken_address.mjs",
    "the studio's form never puts the admin token in the address": "studio_form.mjs",
    "the studio keeps the host's token through a name typed differently": "studio_name.mjs",
}


@pytest.mark.parametrize("script", list(STORIES.values()), ids=[story.replace(" ", "-") for story in STORIES])
def test_a_story_plays_in_the_browser(
    script: str, studio_with_recorder: ServiceProcess, room: str, tmp_path: Path
) -> None:
    play(script, studio_with_recorder, room, tmp_path / "browser")


CROWD = 40


async def test_the_studio_paces_its_reads_of_the_queue_when_many_hands_go_up_at_once(
    service: ServiceProcess, room: str, tmp_path: Path
) -> None:
    """A "raise your hand if..." moment: 40 viewers, each really connected to LiveKit, raise their
    hands at once while the studio is live; its queue ends showing all of them, having read
    ListRaisedHands fewer than a quarter as many times as there were raises (hands_at_once.mjs)."""
    door = TwirpClient(service.http_base, "json")
    viewers: dict[str, str] = {}
    lives: list[LiveParticipant] = []
    connecting = asyncio.Semaphore(8)

    async def watch(identity: str) -> None:
        async with connecting:
            joined = await door.as_(None).join(room, identity, "viewer")
            lives.append(await LiveParticipant(identity).connect(joined["wsUrl"], joined["token"]))
            viewers[identity] = joined["token"]

    try:
        await asyncio.gather(*(watch(f"viewer-{n:02}") for n in range(CROWD)))
        # The story runs in a thread: the viewers' connections stay served by this loop meanwhile.
        out = tmp_path / "browser"
        await asyncio.to_thread(play, "hands_at_once.mjs", service, room, out, VIEWERS=json.dumps(viewers))
    finally:
        await asyncio.gather(*(live.disconnect() for live in lives))
        await door.close()
