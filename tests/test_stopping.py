"""A stop is a stop: SIGTERM (or Ctrl+C) ends the service promptly at any moment, including the
first instants after it says it is ready, when its background loops are still busy with their
first turn. A lost cancellation used to keep it waiting for its reconciler forever."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time

from service.core import tasks
from service.dev.livekit_server import LiveKitDevServer, free_port
from service.dev.redis_server import RedisServer
from tests.conftest import API_KEY, API_SECRET, ROOT, start_service


async def test_a_loop_that_loses_its_cancellation_is_still_stopped() -> None:
    lost = asyncio.Event()

    async def loop() -> None:
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                if lost.is_set():
                    raise
                lost.set()  # as Python 3.11's wait_for does when its wait ends as the cancel arrives

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    started = time.monotonic()
    await asyncio.wait_for(tasks.cancel(task), 5)
    assert lost.is_set() and task.cancelled()
    # Ended by tasks.cancel itself, not by wait_for's timeout cancelling it once more.
    assert time.monotonic() - started < 1


def test_sigterm_right_after_ready_stops_the_service(livekit: LiveKitDevServer, redis_server: RedisServer) -> None:
    """Five starts, each stopped the moment it is ready; each must end, cleanly, within seconds.
    Before the fix about one in two waited for ever (found through `make dev` and Ctrl+C)."""
    took: list[float] = []
    for _ in range(5):
        running = start_service(livekit, SHOW_REDIS_URL=redis_server.url)
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        try:
            code = running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()
            printed = "".join(running.output[-20:])
            raise AssertionError(f"the service did not stop within 15 s of SIGTERM:\n{printed}") from None
        took.append(time.monotonic() - started)
        assert code == 0, "".join(running.output[-20:])
    assert max(took) < 15


def test_sigterm_while_the_service_starts_stops_it_once_started() -> None:
    """A SIGTERM that arrives while the service starts (here: readiness's first check waiting 2 s
    for a LiveKit that never answers) stops it as soon as it has started, and it exits 0. Without
    a handler of its own by then, the signal killed it outright, and in a container, where the
    service is PID 1 and a signal it has no handler for is dropped, it was lost: the service ran
    on until the engine killed it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        http_port = free_port()
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}",
            "LIVEKIT_URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "LIVEKIT_API_KEY": API_KEY,
            "LIVEKIT_API_SECRET": API_SECRET,
            "SHOW_HTTP_PORT": str(http_port),
            "SHOW_GRPC_PORT": "0",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            # The HTTP door listens before readiness's first check: from then on, the start is under way.
            deadline = time.monotonic() + 15
            while process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", http_port), 0.1):
                    break
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
            assert process.stdout is not None
            printed = process.stdout.read().decode()
            assert "showrunner ready" in printed and "stopping" in printed, printed
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
