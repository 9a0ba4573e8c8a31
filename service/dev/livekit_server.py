"""A local livekit-server in dev mode on loopback, for `make dev` and the tests.

The binary is built by `make tools` from the upstream Go module at a pinned release; its path
comes from LIVEKIT_SERVER_BIN (set by the Makefile).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from service.dev.processes import die_with_parent, stop_process, who_listens


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free right now, below the kernel's ephemeral range (32768 and up) so that outgoing
    connections do not take it before the server that was given it binds it."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


class PortTaken(RuntimeError):
    pass


def binary() -> str:
    path = os.environ.get("LIVEKIT_SERVER_BIN", "")
    if not path or not Path(path).is_file():
        raise RuntimeError(f"livekit-server not found at LIVEKIT_SERVER_BIN={path!r}; run `make tools` (it builds it)")
    return path


@dataclass
class LiveKitDevServer:
    api_key: str = "devkey"
    api_secret: str = "secret"
    port: int = field(default_factory=free_port)
    rtc_tcp_port: int = field(default_factory=free_port)
    rtc_udp_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    webhook_urls: list[str] = field(default_factory=list)
    log_path: Path | None = None
    # Ports were picked here, so another pick is fine if one of them is taken meanwhile.
    repick_ports: bool = True
    # Dies with the process that started it (`make dev`); the tests stop their servers themselves.
    tied: bool = False
    _process: subprocess.Popen[bytes] | None = None
    _tail: str = ""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        lines = [
            f"port: {self.port}",
            "bind_addresses: ['127.0.0.1']",
            "rtc:",
            f"  tcp_port: {self.rtc_tcp_port}",
            f"  udp_port: {self.rtc_udp_port}",
            "  use_external_ip: false",
            "  node_ip: 127.0.0.1",
            "keys:",
            f"  {self.api_key}: {self.api_secret}",
            "logging:",
            "  level: info",
        ]
        if self.webhook_urls:
            lines += ["webhook:", f"  api_key: {self.api_key}", "  urls:"]
            lines += [f"    - {u}" for u in self.webhook_urls]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 30.0, attempts: int = 3) -> LiveKitDevServer:
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except PortTaken:
                if not self.repick_ports or attempt == attempts - 1:
                    raise
                self.port, self.rtc_tcp_port = free_port(), free_port()
                self.rtc_udp_port = free_port(socket.SOCK_DGRAM)
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> LiveKitDevServer:
        self._tail = ""
        holder = who_listens(self.port)
        if holder is not None:
            # An earlier run's server would answer our health check; never mistake it for ours.
            raise PortTaken(f"port {self.port} is already taken by {holder}; stop it first")
        self._process = subprocess.Popen(
            [binary(), "--dev", "--config-body", self.config()],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")},
            # SIGKILL: a dev server keeps nothing worth a graceful drain, which can take long.
            preexec_fn=die_with_parent(signal.SIGKILL) if self.tied else None,
        )
        threading.Thread(target=self._copy_log, args=(self._process,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                time.sleep(0.2)  # let the log copier catch up
                if "address already in use" in self._tail:
                    raise PortTaken(self._tail)
                raise RuntimeError(f"livekit-server exited with {self._process.returncode}: {self._tail[-500:]}")
            try:
                with urllib.request.urlopen(self.http_url, timeout=1) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"livekit-server did not answer on {self.http_url} within {timeout}s")

    def _copy_log(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        sink = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            for line in process.stdout:
                self._tail = (self._tail + line.decode(errors="replace"))[-4000:]
                if sink:
                    sink.write(line)
                    sink.flush()
        finally:
            if sink:
                sink.close()

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None
