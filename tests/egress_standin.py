"""A stand-in for LiveKit's Egress service, for the success path of recordings.

A real egress worker needs Chrome, GStreamer and a Redis-connected LiveKit, which cannot run
here; without one, the real LiveKit server answers StartEgress with `unavailable` (tested
against it in test_recording.py). This stand-in speaks the same wire contract the service uses:
Twirp at /twirp/livekit.Egress/<Method>, protobuf or JSON bodies parsed with LiveKit's own
message types (livekit-protocol), the caller's token checked for the roomRecord grant, and
LiveKit's signed webhooks (egress_started / egress_updated / egress_ended) sent to the service.
With `webhooks_to` set it plays the egress worker's part too, as a browser story needs: an egress
it started goes active (or fails, streaming to the URL it cannot reach), and one it stopped
completes, each a moment later and told by webhook.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import uvicorn
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit.protocol import egress as lk_egress
from livekit.protocol import webhook as lk_webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.dev.livekit_server import free_port

REQUESTS = {
    "StartRoomCompositeEgress": lk_egress.RoomCompositeEgressRequest,
    "StopEgress": lk_egress.StopEgressRequest,
    "UpdateStream": lk_egress.UpdateStreamRequest,
    "ListEgress": lk_egress.ListEgressRequest,
}


def _rtmp(url: str) -> bool:
    return url.startswith(("rtmp://", "rtmps://"))


def reported(url: str) -> str:
    """A stream URL as LiveKit's egress reports it in a stream's results: the stream key (the
    last path segment, after the application's) shortened to `{abc...xyz}`, its first and last
    three characters (two, one or none for shorter keys)."""
    scheme, sep, rest = url.partition("://")
    if not sep or rest.count("/") < 2:
        return url
    head, _, key = rest.rpartition("/")
    option = ""
    if key.endswith(" live=1"):
        key, option = key[: -len(" live=1")], " live=1"
    if " " in key:
        return url
    shown = 3 if len(key) >= 9 else 2 if len(key) >= 6 else 1 if len(key) >= 3 else 0
    ends = (key[:shown], key[len(key) - shown :]) if shown else ("", "")
    return f"{scheme}://{head}/{{{ends[0]}...{ends[1]}}}{option}"


def twirp_error(status: int, code: str, msg: str) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg}, status_code=status)


def _not_active(info: lk_egress.EgressInfo, doing: str) -> JSONResponse | None:
    """LiveKit stops or updates only an egress still starting or active; any other is refused
    with failed_precondition, worded as livekit-server words it."""
    if info.status in (lk_egress.EgressStatus.EGRESS_STARTING, lk_egress.EgressStatus.EGRESS_ACTIVE):
        return None
    status = lk_egress.EgressStatus.Name(info.status)
    return twirp_error(412, "failed_precondition", f"egress with status {status} cannot be {doing}")


@dataclass
class EgressStandIn:
    api_key: str
    api_secret: str
    port: int = field(default_factory=free_port)
    delay: float = 0.0  # seconds to hold each StartRoomCompositeEgress answer, to keep a call in flight
    received: list[tuple[str, Message]] = field(default_factory=list)
    egresses: dict[str, lk_egress.EgressInfo] = field(default_factory=dict)
    # The service the egress worker's webhooks go to, when the stand-in plays the worker (a
    # browser story, which cannot move an egress itself); unset, an egress moves only when a test
    # moves it (report, move).
    webhooks_to: str = ""
    worker_seconds: float = 0.5  # how long the worker takes to go active, or to complete once stopped
    # A stream URL the worker cannot reach: an egress started to it fails instead of going active,
    # its error quoting the URL as egress workers do.
    unreachable: str = ""
    _working: set[asyncio.Task[None]] = field(default_factory=set)
    # The URLs behind the shortened ones the stream results report.
    _sent_to: dict[str, str] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def changes_about(self, room: str) -> list[tuple[str, Message]]:
        """The changes asked about `room` (starts naming it; updates and stops of its egresses),
        in order, without the reads: the stand-in serves the whole session, and other tests'
        services, and their reconcilers' ListEgress, call it meanwhile."""
        ours = {egress_id for egress_id, info in self.egresses.items() if info.room_name == room}
        return [
            (method, message)
            for method, message in list(self.received)
            if method != "ListEgress"
            and (getattr(message, "room_name", "") == room or getattr(message, "egress_id", "") in ours)
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EgressStandIn:
        app = Starlette(routes=[Route("/twirp/livekit.Egress/{method}", self._handle, methods=["POST"])])
        # LiveKit's server (Go's http.Server, no IdleTimeout) never closes an idle connection;
        # uvicorn's default closes it after 5 s, and a call that the service's connection pool
        # (aiohttp's, which keeps one 15 s) sent on it in that very moment failed as
        # "ClientOSError" (StartRoomCompositeEgress once, in CI).
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", timeout_keep_alive=300
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("egress stand-in did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)

    async def _handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        if method not in REQUESTS:
            return twirp_error(404, "bad_route", f"no handler for {method}")
        problem = self._check_token(request.headers.get("authorization", ""))
        if problem:
            return twirp_error(401, "unauthenticated", problem)
        body, media = await request.body(), request.headers.get("content-type", "").split(";")[0]
        message = REQUESTS[method]()
        try:
            if media == "application/protobuf":
                message.ParseFromString(body)
            elif media == "application/json":
                json_format.Parse(body, message)
            else:
                return twirp_error(404, "bad_route", f"unexpected content type {media}")
        except Exception as exc:
            return twirp_error(400, "malformed", f"could not parse {method}: {exc}")
        self.received.append((method, message))
        if method == "StartRoomCompositeEgress":
            assert isinstance(message, lk_egress.RoomCompositeEgressRequest)
            if self.delay:
                await asyncio.sleep(self.delay)
            problem = self._check_outputs(message)
            if problem:
                return twirp_error(400, "invalid_argument", problem)
            info = lk_egress.EgressInfo(
                egress_id=f"EG_{uuid.uuid4().hex[:12]}",
                room_name=message.room_name,
                status=lk_egress.EgressStatus.EGRESS_STARTING,
                started_at=time.time_ns(),
                room_composite=message,
            )
            for output in message.stream_outputs:
                for url in output.urls:
                    self.send_to(info, url)
            self.egresses[info.egress_id] = info
            urls = [url for output in message.stream_outputs for url in output.urls]
            if self.unreachable and self.unreachable in urls:
                error = f"failed to connect to {self.unreachable}: i/o timeout"
                self._work("egress_ended", info.egress_id, lk_egress.EgressStatus.EGRESS_FAILED, error)
            else:
                self._work("egress_updated", info.egress_id, lk_egress.EgressStatus.EGRESS_ACTIVE)
            return self._reply(info, media)
        if method == "UpdateStream":
            assert isinstance(message, lk_egress.UpdateStreamRequest)
            found = self.egresses.get(message.egress_id)
            if found is None:
                return twirp_error(404, "not_found", "egress not found")
            if not found.room_composite.stream_outputs:
                return twirp_error(400, "invalid_argument", "egress has no stream output")
            refused = _not_active(found, "updated")
            if refused is not None:
                return refused
            if any(not _rtmp(url) for url in message.add_output_urls):
                return twirp_error(400, "invalid_argument", "stream output URLs must be rtmp:// or rtmps://")
            # LiveKit keeps a stream result per URL: added ones start, removed ones finish.
            known = {result.url: result for result in found.stream_results}
            for url in message.add_output_urls:
                if known.get(reported(url)) and known[reported(url)].status == lk_egress.StreamInfo.Status.ACTIVE:
                    continue
                self.send_to(found, url)
            for url in message.remove_output_urls:
                result = known.get(reported(url))
                if result is None or result.status != lk_egress.StreamInfo.Status.ACTIVE:
                    return twirp_error(400, "invalid_argument", "stream output not found")
                result.status = lk_egress.StreamInfo.Status.FINISHED
            found.updated_at = time.time_ns()
            return self._reply(found, media)
        if method == "StopEgress":
            assert isinstance(message, lk_egress.StopEgressRequest)
            found = self.egresses.get(message.egress_id)
            if found is None:
                return twirp_error(404, "not_found", "egress not found")
            refused = _not_active(found, "stopped")
            if refused is not None:
                return refused
            found.status = lk_egress.EgressStatus.EGRESS_ENDING
            self._work("egress_ended", found.egress_id, lk_egress.EgressStatus.EGRESS_COMPLETE)
            return self._reply(found, media)
        assert isinstance(message, lk_egress.ListEgressRequest)
        if message.egress_id and message.egress_id not in self.egresses:
            # As livekit-server answers a ListEgress for one egress it does not have (LoadEgress).
            return twirp_error(404, "not_found", "egress does not exist")
        items = [
            info
            for info in self.egresses.values()
            if (not message.egress_id or info.egress_id == message.egress_id)
            and (not message.room_name or info.room_name == message.room_name)
            # `active`: only those not ended yet (starting, active or ending), as LiveKit lists them
            and (not message.active or info.status <= lk_egress.EgressStatus.EGRESS_ENDING)
        ]
        listing = lk_egress.ListEgressResponse(items=items)
        return self._reply(listing, media)

    @staticmethod
    def _check_outputs(request: lk_egress.RoomCompositeEgressRequest) -> str:
        """LiveKit's checks on a request's outputs: at least one, and stream outputs are RTMP
        with rtmp(s):// URLs."""
        if not (request.file_outputs or request.stream_outputs or request.segment_outputs or request.HasField("file")):
            return "no outputs"
        for output in request.stream_outputs:
            if output.protocol != lk_egress.StreamProtocol.RTMP:
                return "stream outputs here must be RTMP"
            if not output.urls or any(not _rtmp(url) for url in output.urls):
                return "stream output URLs must be rtmp:// or rtmps://"
        return ""

    def send_to(self, info: lk_egress.EgressInfo, url: str) -> None:
        """The egress starts sending to `url`: a stream result is added, its key shortened."""
        self._sent_to[reported(url)] = url
        info.stream_results.add(url=reported(url), status=lk_egress.StreamInfo.Status.ACTIVE, started_at=time.time_ns())

    def active_urls(self, egress_id: str) -> list[str]:
        """The URLs an egress is streaming to now."""
        results = self.egresses[egress_id].stream_results
        return sorted(self._sent_to[r.url] for r in results if r.status == lk_egress.StreamInfo.Status.ACTIVE)

    def _check_token(self, authorization: str) -> str:
        token = authorization.removeprefix("Bearer ").strip()
        try:
            claims: dict[str, Any] = jwt.decode(token, self.api_secret, algorithms=["HS256"], issuer=self.api_key)
        except jwt.PyJWTError as exc:
            return f"invalid token: {exc}"
        if not claims.get("video", {}).get("roomRecord"):
            return "token lacks the roomRecord grant"
        return ""

    @staticmethod
    def _reply(message: Message, media: str) -> Response:
        if media == "application/json":
            return Response(json_format.MessageToJson(message), media_type="application/json")
        return Response(message.SerializeToString(), media_type="application/protobuf")

    # --- webhooks, as LiveKit sends them ---------------------------------------------------

    def _work(self, event: str, egress_id: str, status: int, error: str = "") -> None:
        """The egress worker's next step, when the stand-in plays it: `status` a moment after this
        answer (which the service settles first), told to `webhooks_to`."""
        if not self.webhooks_to:
            return
        service = self.webhooks_to

        async def step() -> None:
            await asyncio.sleep(self.worker_seconds)
            await self.report(service, event, egress_id, status, error=error)

        task = asyncio.ensure_future(step())
        self._working.add(task)  # held: the loop keeps only a weak reference to a task
        task.add_done_callback(self._working.discard)

    def move(self, egress_id: str, status: int, location: str = "", error: str = "") -> lk_egress.EgressInfo:
        """Moves an egress to `status` (a failure with the egress worker's `error`) without telling
        the service: its webhook is lost or late."""
        info = self.egresses[egress_id]
        info.status = status  # type: ignore[assignment]
        info.error = error
        info.updated_at = time.time_ns()
        if status >= lk_egress.EgressStatus.EGRESS_COMPLETE:
            info.ended_at = time.time_ns()
            info.file_results.add(filename=location.rsplit("/", 1)[-1], location=location)
        return info

    async def report(
        self, service_url: str, event: str, egress_id: str, status: int, location: str = "", error: str = ""
    ) -> int:
        """Moves an egress to `status` and tells the service with a signed webhook."""
        info = self.move(egress_id, status, location, error)
        webhook = lk_webhook.WebhookEvent(event=event, egress_info=info, id=f"EV_{uuid.uuid4().hex[:8]}")
        webhook.created_at = int(time.time())
        body = json_format.MessageToJson(webhook).encode()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        claims = {"iss": self.api_key, "exp": int(time.time()) + 300, "sha256": digest}
        token = jwt.encode(claims, self.api_secret, algorithm="HS256")
        async with httpx.AsyncClient() as http:
            reply = await http.post(
                f"{service_url}/webhooks/livekit",
                content=body,
                headers={"Authorization": token, "Content-Type": "application/webhook+json"},
            )
        return reply.status_code
