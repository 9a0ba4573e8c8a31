"""A local redis-server (Debian's package) on loopback, for `make dev` and the tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from service.dev.livekit_server import PortTaken, free_port
from service.dev.processes import die_with_parent, stop_process, who_listens


class ServerExited(RuntimeError):
    """redis-server exited as it started (a port it was given taken meanwhile, say)."""


@dataclass
class RedisServer:
    workdir: Path
    port: int = field(default_factory=free_port)
    # Keep the data across restarts in an append-only file in `workdir` (`make dev REDIS=1`).
    persistent: bool = False
    # Dies with the process that started it (`make dev`); the tests stop their servers themselves.
    tied: bool = False
    # Further redis-server options, e.g. those of a Redis Cluster node.
    options: tuple[str, ...] = ()
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        """The running server's process id (a test stalls it, as a hung host would)."""
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        return self._process.pid

    @classmethod
    def on_free_ports(
        cls, workdir: Path, options: Callable[[], tuple[str, ...]] = tuple, attempts: int = 3
    ) -> RedisServer:
        """Started on a port chosen now, with `options()` (which may choose further ports: a
        cluster node's bus). Another server on this machine (another test worker's, choosing from
        the same range) can take a port between the choice and the bind: a start that exits is
        made again on fresh ports."""
        for attempt in range(1, attempts + 1):
            try:
                return cls(workdir=workdir, options=options()).start()
            except (ServerExited, PortTaken):
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def start(self, timeout: float = 15.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `make tools` installs Debian's redis-server")
        holder = who_listens(self.port)
        if holder is not None:
            # Answering PINGs is not enough: it would be someone else's data (an earlier run's).
            raise PortTaken(f"port {self.port} is already taken by {holder}; stop it first")
        log = self.workdir / "redis-server.log"  # what it says, should it exit as it starts
        with log.open("ab") as output:
            self._process = self._launch(binary, output)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                said = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
                raise ServerExited(f"redis-server exited with {self._process.returncode}: {said[0]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def _launch(self, binary: str, output: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--dir",
                str(self.workdir),
                *self.options,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            # SIGTERM: Redis writes its append-only file and exits.
            preexec_fn=die_with_parent() if self.tied else None,
        )

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None
