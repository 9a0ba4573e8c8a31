"""Participant tokens: the same claims as livekit-api's AccessToken, and LiveKit accepts them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import jwt
import pytest
from google.protobuf.json_format import MessageToDict
from livekit import api
from livekit.protocol import models as lk
from livekit.protocol.room import RoomConfiguration

from service.core.auth import Authenticator
from service.core.caller import Credentials
from service.core.clock import SystemClock
from service.core.ports import Presence
from service.core.record import connection_of
from service.core.roles import Role
from service.dev.livekit_server import LiveKitDevServer
from service.gateway.livekit import LiveKitStage
from service.gateway.tokens import TokenMinter
from tests.conftest import API_KEY, API_SECRET
from tests.live import LiveParticipant

TTL = timedelta(hours=6)
# How the service has LiveKit create a room its participants' tokens open (LiveKitStage's).
OPENING = RoomConfiguration(empty_timeout=333, departure_timeout=45, metadata='{"showrunner":"tokens"}')

# What each role's token grants, written from the README's table rather than from the code.
EXPECTED_VIDEO: dict[Role, dict[str, object]] = {
    Role.HOST: {"canPublish": True, "canSubscribe": True, "canPublishData": True},
    Role.GUEST: {
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
        "canPublishSources": ["camera", "microphone"],
    },
    Role.VIEWER: {"canPublish": False, "canSubscribe": True, "canPublishData": True},
    # A moderator manages the stage through Showrunner and publishes no media: a viewer's grants.
    Role.MODERATOR: {"canPublish": False, "canSubscribe": True, "canPublishData": True},
}


def livekit_api_token(room: str, identity: str, name: str, role: Role) -> str:
    """The token livekit-api's AccessToken makes for the same participant."""
    video = EXPECTED_VIDEO[role]
    sources = video.get("canPublishSources")
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=bool(video["canPublish"]),
        can_subscribe=bool(video["canSubscribe"]),
        can_publish_data=bool(video["canPublishData"]),
        can_publish_sources=list(sources) if isinstance(sources, list) else None,
        can_update_own_metadata=False,
    )
    return (
        api.AccessToken(API_KEY, API_SECRET)
        .with_identity(identity)
        .with_name(name)
        .with_metadata(json.dumps({"role": role.value, "displayName": name}, separators=(",", ":")))
        .with_attributes({"role": role.value})
        .with_grants(grants)
        .with_room_config(OPENING)
        .with_ttl(TTL)
        .to_jwt()
    )


def decoded(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, API_SECRET, algorithms=["HS256"], issuer=API_KEY)
    return claims


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    ("identity", "name"),
    [("viewer-1", "Jane"), ("v2", 'quote " and \\ slash'), ("zoë", "Zoë 🎤 名前")],
)
def test_claims_are_livekit_apis_for_each_role(role: Role, identity: str, name: str) -> None:
    room = "show-ü" if not identity.isascii() else "show-1"
    before = int(time.time())
    minter = TokenMinter(API_KEY, API_SECRET, int(TTL.total_seconds()), MessageToDict(OPENING))
    ours = decoded(minter.mint(room, identity, name, role))
    theirs = decoded(livekit_api_token(room, identity, name, role))
    after = int(time.time())

    # Same claim names, same values, apart from the times, which are checked on their own.
    for claims in (ours, theirs):
        assert before <= int(str(claims.pop("nbf"))) <= after
        assert before + TTL.total_seconds() <= int(str(claims.pop("exp"))) <= after + TTL.total_seconds()
    # The metadata is a JSON document inside a claim: the same document, however it is escaped.
    assert json.loads(str(ours.pop("metadata"))) == json.loads(str(theirs.pop("metadata")))
    assert ours == theirs
    assert ours["video"] == {"roomJoin": True, "room": room, **EXPECTED_VIDEO[role], "canUpdateOwnMetadata": False}
    assert json.loads(str(decoded(minter.mint(room, identity, name, role))["metadata"])) == {
        "role": role.value,
        "displayName": name,
    }
    assert ours["sub"] == identity and ours["iss"] == API_KEY and ours["name"] == name


def test_header_is_pyjwts() -> None:
    token = TokenMinter(API_KEY, API_SECRET, 60).mint("r", "v", "V", Role.VIEWER)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert token.split(".")[0] == livekit_api_token("r", "v", "V", Role.VIEWER).split(".")[0]


@pytest.fixture(scope="module")
def bare_livekit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitDevServer]:
    """A LiveKit that sends no webhooks: the suite's LiveKit tells the service, which would bring
    a participant it never seated back to a viewer at once (as it should)."""
    log = tmp_path_factory.mktemp("livekit-tokens") / "livekit-server.log"
    server = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=log).start()
    yield server
    server.stop()


@pytest.mark.parametrize("role", list(Role))
async def test_livekit_accepts_the_token_and_grants_what_it_says(bare_livekit: LiveKitDevServer, role: Role) -> None:
    livekit = bare_livekit
    room, identity = f"tokens-{role.value}-{time.time_ns()}", f"{role.value}-p"
    token = TokenMinter(livekit.api_key, livekit.api_secret, 600).mint(room, identity, "Pat", role)
    participant = await LiveParticipant(identity).connect(livekit.url, token)
    try:
        async with api.LiveKitAPI(livekit.http_url, livekit.api_key, livekit.api_secret) as server:
            seen = await server.room.get_participant(api.RoomParticipantIdentity(room=room, identity=identity))
        assert seen.name == "Pat"
        assert seen.attributes == {"role": role.value}
        video = EXPECTED_VIDEO[role]
        assert seen.permission.can_publish is video["canPublish"]
        assert seen.permission.can_subscribe is True and seen.permission.can_publish_data is True
        assert seen.permission.can_update_metadata is False
        sources = [lk.TrackSource.Name(s).lower() for s in seen.permission.can_publish_sources]
        assert sources == video.get("canPublishSources", [])
    finally:
        await participant.disconnect()


async def test_a_holders_mark_is_in_the_claims_and_on_the_connection_livekit_shows(
    bare_livekit: LiveKitDevServer,
) -> None:
    """Which holder of its name a token was given to (Caller.holder) is a claim the service reads
    back, and an attribute LiveKit shows on the connection, where parts are bound to it."""
    livekit = bare_livekit
    room, minter = f"tokens-holder-{time.time_ns()}", TokenMinter(livekit.api_key, livekit.api_secret, 600)
    token = minter.mint(room, "vic", "Vic", Role.VIEWER, holder="h-123")
    caller = Authenticator(livekit.api_key, livekit.api_secret, SystemClock()).caller(Credentials(f"Bearer {token}"))
    assert (caller.identity, caller.holder) == ("vic", "h-123")
    participant = await LiveParticipant("vic").connect(livekit.url, token)
    try:
        async with api.LiveKitAPI(livekit.http_url, livekit.api_key, livekit.api_secret) as server:
            seen = await server.room.get_participant(api.RoomParticipantIdentity(room=room, identity="vic"))
        assert seen.attributes == {"role": "viewer", "holder": "h-123"}
        assert connection_of(seen).holder == "h-123"
    finally:
        await participant.disconnect()
    unmarked = minter.mint(room, "vic", "Vic", Role.VIEWER)  # one the admin or a backend names: no mark
    assert (
        Authenticator(livekit.api_key, livekit.api_secret, SystemClock())
        .caller(Credentials(f"Bearer {unmarked}"))
        .holder
        == ""
    )


async def test_a_room_a_viewers_token_opens_has_the_services_timeouts_and_mark(bare_livekit: LiveKitDevServer) -> None:
    """A viewer may join before its host: LiveKit then creates the room from the viewer's token,
    with LiveKit's defaults unless the token says otherwise (a 20 s departure timeout, where the
    service's covers its reconnect grace window, and no mark of the deployment). The service's
    tokens carry its room configuration, so such a room is the service's own from its start."""
    livekit = bare_livekit
    stage = LiveKitStage(
        livekit.url, livekit.api_key, livekit.api_secret, empty_timeout=333, departure_timeout=45, deployment="tokens"
    )
    room = f"tokens-opened-{time.time_ns()}"
    token = stage.mint_token(room, "early", "Early", Presence(Role.VIEWER, waiting=True))
    participant = await LiveParticipant("early").connect(livekit.url, token)
    try:
        async with api.LiveKitAPI(livekit.http_url, livekit.api_key, livekit.api_secret) as server:
            (opened,) = (await server.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
        assert (opened.empty_timeout, opened.departure_timeout) == (333, 45)
        assert stage.ours(opened)
        assert (await stage.open_room(room)).sid == opened.sid  # the host's open finds it as it is
    finally:
        await participant.disconnect()
        await stage.close()
