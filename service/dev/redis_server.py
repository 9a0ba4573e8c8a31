"""A local redis-server (Debian's package) on loopback, for `make dev` and the tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from service.dev.livekit_server import PortTaken, free_port
from service.dev.processes import die_with_parent, stop_process, who_listens


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

    def start(self, timeout: float = 15.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `make tools` installs Debian's redis-server")
        holder = who_listens(self.port)
        if holder is not None:
            # Answering PINGs is not enough: it would be someone else's data (an earlier run's).
            raise PortTaken(f"port {self.port} is already taken by {holder}; stop it first")
        self._process = subprocess.Popen(
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
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            # SIGTERM: Redis writes its append-only file and exits.
            preexec_fn=die_with_parent() if self.tied else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None
