"""uvicorn's HTTP/1.1 protocol with a deadline on receiving each request.

uvicorn times out idle keep-alive connections, but not a client that connects and sends nothing,
stops half way through its headers, or promises a body it never sends: each such connection
would be held open for ever (slowloris). Here a request must arrive whole, headers and body,
within ``request_timeout_s`` of its first byte (or of the connection): otherwise the client gets
``408 Request Timeout`` (when it had started a request) and the connection is closed. WebSocket
connections leave this protocol at the upgrade and are not timed.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

_TIMEOUT_BODY = b"the request did not arrive in time\n"
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class DeadlineH11Protocol(H11Protocol):
    request_timeout_s: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.get_protocol() is not self or self.conn.their_state is h11.DONE:
            self._disarm()  # upgraded to a WebSocket, or the whole request is in
        elif self._deadline is None:
            self._arm()  # the next request on a kept-alive connection has begun

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        started = self.conn.their_state is h11.SEND_BODY or bool(self.conn.trailing_data[0])
        responding = self.cycle is not None and self.cycle.response_started
        log.warning("%s: no whole request within %ss: connection closed", self.client, self.request_timeout_s)
        if started and not responding:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def deadline_protocol(request_timeout_s: float) -> type[DeadlineH11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with this deadline."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"request_timeout_s": request_timeout_s})
