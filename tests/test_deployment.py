"""The name a deployment marks its LiveKit rooms with, so that its reconciler adopts its own rooms
(after a Redis that restarted empty) and never another deployment's on the same LiveKit: every
instance sharing the store uses the same one, however each reaches the store. Checked in
LiveKit's own view (the rooms' metadata) with service processes on a real 3-node Redis Cluster,
and on a real redis-server that restarts empty."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from livekit import api
from livekit.protocol import models as lk

from service.core.errors import ShowError
from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_cluster import RedisCluster
from service.dev.redis_server import RedisServer
from service.gateway.livekit import LiveKitStage
from service.stores.redis_record import RedisRecords, connect
from tests.conftest import API_KEY, API_SECRET, admin_token, start_service
from tests.doors import client_for
from tests.live import until


async def answers(store: RedisRecords) -> bool:
    """One readiness check (the first after a restart finds its pooled connection closed)."""
    try:
        await store.ping()
    except ShowError:
        return False
    return True


async def test_instances_reaching_the_cluster_by_different_nodes_mark_their_rooms_alike(
    livekit: LiveKitDevServer, redis_cluster: RedisCluster
) -> None:
    """Two instances of one deployment, each given another node of the Cluster as SHOW_REDIS_URL:
    the rooms each opens carry the same mark, so either one's reconciler takes the other's rooms
    for its own. (Before, each derived its name from its own URL, and the marks differed.)"""
    instances = [
        start_service(livekit, SHOW_REDIS_URL=node.url, SHOW_REDIS_CLUSTER="true") for node in redis_cluster.nodes[:2]
    ]
    lkapi = api.LiveKitAPI(livekit.http_url, API_KEY, API_SECRET, failover=False)
    rooms = [f"marked-{uuid.uuid4().hex[:8]}" for _ in instances]
    try:
        for running, room in zip(instances, rooms, strict=True):
            door = client_for("rest", running.grpc_address, running.http_base)
            try:
                await door.as_(admin_token(room)).join(room, "host", "host")
            finally:
                await door.close()
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=rooms))
        marks = {json.loads(r.metadata)["showrunner"] for r in listed.rooms}
        assert len(listed.rooms) == 2 and len(marks) == 1, listed.rooms
    finally:
        for room in rooms:
            await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))
        await lkapi.aclose()
        for running in instances:
            running.stop()


async def test_the_shared_name_outlives_a_redis_that_restarted_empty(tmp_path: Path) -> None:
    """The first instance to ask gives the store its name, and the others take it. Redis restarts
    empty: the running instances hold the name again at their next readiness check, so one
    started after that takes it too rather than its own."""
    server = RedisServer(workdir=tmp_path).start()
    stores = [RedisRecords(connect(server.url, cluster=False)) for _ in range(3)]
    try:
        first, second, later = stores
        assert await first.deployment("first") == "first"
        assert await second.deployment("second") == "first"
        server.stop()
        server = RedisServer(workdir=tmp_path, port=server.port).start()  # empty
        await until(lambda: answers(second), label="the second instance's readiness check answered")
        assert await later.deployment("later") == "first"
    finally:
        for store in stores:
            await store.close()
        server.stop()


async def test_rooms_marked_with_a_name_this_deployment_had_are_its_own(livekit: LiveKitDevServer) -> None:
    """An earlier version marked the rooms an instance opened with the name it derived from its
    own SHOW_REDIS_URL: they stay this deployment's under the shared name; another deployment's
    and unmarked rooms do not."""
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET, deployment="shared", also_ours=("derived",))
    try:

        def marked(name: str) -> lk.Room:
            return lk.Room(name="r", metadata=json.dumps({"showrunner": name}, separators=(",", ":")))

        assert stage.ours(marked("shared")) and stage.ours(marked("derived"))
        assert not stage.ours(marked("other")) and not stage.ours(lk.Room(name="r"))
    finally:
        await stage.close()
