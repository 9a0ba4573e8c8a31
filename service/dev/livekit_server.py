"""A local livekit-server in dev mode on loopback, for `make dev` and the tests.

The binary is built by `make tools` from the upstream Go module at a pinned release; its path
comes from LIVEKIT_SERVER_BIN (set by the Makefile).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    _process: subprocess.Popen[bytes] | None = None

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

    def start(self, timeout: float = 30.0) -> LiveKitDevServer:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [binary(), "--dev", "--config-body", self.config()],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"livekit-server exited with {self._process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.http_url, timeout=1) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"livekit-server did not answer on {self.http_url} within {timeout}s")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
