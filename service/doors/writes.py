"""A door's answers go out at the end of the event loop's turn, all together (both doors).

uvicorn writes an answer's header and its body each as it comes, and uvloop sends each write to
the socket at once: two system calls an answer, each waking the client, which sends its next
request while this process is still answering the others of the same turn. Here every
connection's writes of one turn are held and sent at its end (loop.call_soon, as the log lines
are, see observability/logs.py's GatheredLines): one system call per connection per turn, and
the clients hear the whole turn's answers together. Measured with `make bench`'s room reads
(README, "Server stack"): a REST GetRoom about 70 to 50 us of CPU and a third more answers a
second; the floor's bare app, whose pace its load client sets, about 20 to 18 us. Writing an
answer's header and body in one call but at once did not help: the gain is in sending a turn's
answers together.

An answer waits for the rest of its turn at most, which is what its own turn's callbacks took
anyway. Closing a connection sends what it holds first; aborting one drops it, as uvloop's
abort drops what its own buffer holds. The client's EOF closes it too (uvicorn keeps no
half-closed connection open), and sends what it holds first: a client that shuts down its
sending side after its request still hears the answer.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from typing import Any, cast

log = logging.getLogger("showrunner.http")


class _Turn:
    """The connections with writes held in this turn of one loop, and the one callback that
    sends them at its end."""

    def __init__(self) -> None:
        # No reference to the loop: _TURNS keeps this by a weak reference to its loop, which a
        # reference back would keep alive for ever.
        self._held: list[GatheredTransport] = []

    def hold(self, transport: GatheredTransport) -> None:
        if not self._held:
            asyncio.get_running_loop().call_soon(self._send_held)
        self._held.append(transport)

    def _send_held(self) -> None:
        held, self._held = self._held, []
        for transport in held:
            try:
                transport.send_held()
            except Exception:  # one broken connection must not keep the others' answers
                log.exception("could not send a connection's answers")


# One turn keeper per event loop, forgotten with its loop.
_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turn] = weakref.WeakKeyDictionary()


def _turn_of(loop: asyncio.AbstractEventLoop) -> _Turn:
    turn = _TURNS.get(loop)
    if turn is None:
        turn = _TURNS[loop] = _Turn()
    return turn


class GatheredTransport(asyncio.Transport):
    """A connection's transport whose writes of one turn go out together at its end; everything
    else is the underlying transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._turn = _turn_of(loop)
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._turn.hold(self)
        self._held.append(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def send_held(self) -> None:
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.send_held()
        self._transport.close()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def write_eof(self) -> None:
        self.send_held()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


def with_gathered_writes(protocol: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """`protocol` (one of uvicorn's HTTP protocols) writing through a GatheredTransport."""

    class GatheredWrites(protocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # uvloop's transports are asyncio transports by their methods, not their classes.
            stream = cast(asyncio.Transport, transport)
            super().connection_made(GatheredTransport(stream, asyncio.get_running_loop()))

        def eof_received(self) -> None:
            # uvicorn's answers None, so the transport closes as this returns: what is still
            # held would be dropped at the turn's end.
            self.transport.send_held()
            super().eof_received()

    GatheredWrites.__name__ = f"GatheredWrites{protocol.__name__}"
    return GatheredWrites
