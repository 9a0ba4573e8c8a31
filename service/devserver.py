"""`make dev`: a local LiveKit dev server and Showrunner in the foreground, until Ctrl+C.

LiveKit listens on 127.0.0.1:7880 (signal), 7881/tcp and 7882/udp (media) with the dev
server's key `devkey` and secret `secret`, and delivers its webhooks to the service. Set
LIVEKIT_URL (with LIVEKIT_API_KEY and LIVEKIT_API_SECRET) to use another LiveKit instead.
`make dev REDIS=1` also starts a local redis-server and keeps the show's state there.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import jwt

from service import runtime
from service.app import serve
from service.config import ConfigError, Settings
from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from service.observability import logs


def main() -> int:
    # The dev server's well-known secret is short; that is the point of a dev server.
    warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    env = dict(os.environ)
    livekit: LiveKitDevServer | None = None
    redis: RedisServer | None = None
    if env.get("REDIS") == "1" and not env.get("SHOW_REDIS_URL"):
        redis = RedisServer(workdir=Path(tempfile.mkdtemp(prefix="showrunner-redis-")), port=6379).start()
        env["SHOW_REDIS_URL"] = redis.url
        print(f"started redis-server on {redis.url}", flush=True)
    if not env.get("LIVEKIT_URL"):
        http_port = env.get("SHOW_HTTP_PORT", "3001")
        livekit = LiveKitDevServer(
            port=int(env.get("LIVEKIT_DEV_PORT", "7880")),
            rtc_tcp_port=int(env.get("LIVEKIT_DEV_RTC_TCP_PORT", "7881")),
            rtc_udp_port=int(env.get("LIVEKIT_DEV_RTC_UDP_PORT", "7882")),
            repick_ports=False,
            webhook_urls=[f"http://127.0.0.1:{http_port}/webhooks/livekit"],
        )
        print(f"starting livekit-server (dev) on {livekit.url}", flush=True)
        livekit.start()
        env.update(LIVEKIT_URL=livekit.url, LIVEKIT_API_KEY=livekit.api_key, LIVEKIT_API_SECRET=livekit.api_secret)
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        print(f"showrunner: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    print(
        f"showrunner: gRPC {settings.host}:{settings.grpc_port}, "
        f"HTTP http://{settings.host}:{settings.http_port} (Twirp at /twirp/, REST at /api/), "
        f"LiveKit {settings.livekit_url}. Ctrl+C stops both.",
        flush=True,
    )
    try:
        runtime.run(serve(settings), settings.event_loop)
    except KeyboardInterrupt:
        pass
    finally:
        if livekit:
            livekit.stop()
        if redis:
            redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
