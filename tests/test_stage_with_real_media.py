"""A viewer goes on stage and back with real WebRTC media, without reconnecting."""

from __future__ import annotations

from livekit import api, rtc

from tests.conftest import admin_token
from tests.doors import ShowClient
from tests.live import LiveParticipant, PublishRefused


async def test_viewer_is_promoted_publishes_audio_and_is_demoted_live(
    rest: ShowClient, room: str, lkapi: api.LiveKitAPI
) -> None:
    host_join = await rest.as_(admin_token(room)).join(room, "host", "host")
    viewer_join = await rest.join(room, "viewer", "viewer")
    as_host, as_viewer = rest.as_(host_join["token"]), rest.as_(viewer_join["token"])
    host = await LiveParticipant("host").connect(host_join["wsUrl"], host_join["token"])
    viewer = await LiveParticipant("viewer").connect(viewer_join["wsUrl"], viewer_join["token"])
    try:
        # In the audience, LiveKit refuses the viewer's microphone.
        try:
            await viewer.publish_microphone(timeout=5)
            raise AssertionError("a viewer published media")
        except PublishRefused:
            pass

        await as_viewer.hand(room, "viewer", True)
        await as_host.invite(room, "viewer", "host")
        await viewer.wait_for(lambda: viewer.room.local_participant.permissions.can_publish, label="guest permission")
        connection = viewer.room.local_participant.sid

        await viewer.publish_microphone()
        await host.wait_for(
            lambda: ("subscribed", ("viewer", rtc.TrackKind.KIND_AUDIO)) in host.events,
            label="host hears the guest",
        )
        seen = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
        guest = next(p for p in seen if p.identity == "viewer")
        assert [t.type for t in guest.tracks] == [api.TrackType.AUDIO]
        assert guest.sid == connection  # the same connection, never reconnected

        await as_host.demote(room, "viewer", "host")
        await host.wait_for(lambda: ("unpublished", "viewer") in host.events, label="guest's track unpublished")
        seen = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
        demoted = next(p for p in seen if p.identity == "viewer")
        assert list(demoted.tracks) == []
        assert demoted.permission.can_publish is False
        assert demoted.sid == connection

        await viewer.wait_for(lambda: not viewer.room.local_participant.permissions.can_publish)
        try:
            await viewer.publish_microphone(timeout=5)
            raise AssertionError("a demoted guest published media")
        except PublishRefused:
            pass
    finally:
        await viewer.disconnect()
        await host.disconnect()
