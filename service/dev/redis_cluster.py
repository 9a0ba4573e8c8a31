"""A real Redis Cluster on loopback (three primaries of Debian's redis-server), for the tests of
the show's record on Cluster and for `make bench`."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from service.dev.livekit_server import free_port
from service.dev.redis_server import RedisServer


@dataclass
class RedisCluster:
    workdir: Path
    size: int = 3
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Any one node: a cluster client discovers the others from it."""
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> RedisCluster:
        cli = _redis_cli()
        try:
            for i in range(self.size):
                folder = self.workdir / f"node-{i}"
                folder.mkdir(parents=True, exist_ok=True)
                self.nodes.append(RedisServer.on_free_ports(folder, partial(_node_options, folder)))
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            subprocess.run(
                [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            self._wait_ok(cli, time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ok(self, cli: str, deadline: float) -> None:
        """Every node must see every slot served before a client may rely on the cluster."""
        while time.monotonic() < deadline:
            states = [
                subprocess.run(
                    [cli, "-p", str(node.port), "cluster", "info"], capture_output=True, text=True, timeout=5
                ).stdout
                for node in self.nodes
            ]
            if all("cluster_state:ok" in state for state in states):
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def restart_node(self, index: int, timeout: float = 30.0) -> None:
        """Stops one node and starts it again on its port: it rejoins with its slots (its
        nodes.conf), its data gone, as a node restarted without persistence."""
        node = self.nodes[index]
        node.stop()
        self.nodes[index] = RedisServer(workdir=node.workdir, port=node.port, options=node.options).start()
        self._wait_ok(_redis_cli(), time.monotonic() + timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes.clear()


def _node_options(folder: Path) -> tuple[str, ...]:
    """A new cluster node's options. The cluster bus gets a port of its own choosing
    (cluster-port), not port + 10000, which could fall in the kernel's ephemeral range; a start
    made again begins with no nodes.conf of the one that exited."""
    (folder / "nodes.conf").unlink(missing_ok=True)
    return (
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        str(folder / "nodes.conf"),
        "--cluster-port",
        str(free_port()),
        "--cluster-node-timeout",
        "5000",
    )


def _redis_cli() -> str:
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli is not installed; `make tools` installs Debian's redis-server")
    return cli
