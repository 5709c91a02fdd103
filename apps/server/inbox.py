"""What a WebSocket client sends, read by one task per socket into a bounded inbox.

The reader never stops on a bad frame: a binary frame is answered with a 415 error (it used to kill
the reader, leaving the connection hung and SIGTERM waiting on it for ever), a frame beyond
``max_waiting`` unanswered ones gets a 429, and a ``cancel`` or a disconnect sets ``stop`` at once,
which the reply in progress watches even while it waits for a slot. A disconnect ends the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.websockets import WebSocket, WebSocketDisconnect

BINARY_FRAME = "binary frames are not read: send each request as a JSON text frame"


class SocketInbox:
    def __init__(self, websocket: WebSocket, max_waiting: int) -> None:
        self.websocket = websocket
        self.max_waiting = max_waiting
        self.stop = asyncio.Event()  # set by a cancel frame while a reply runs, or by a disconnect
        self.replying = False
        self._frames: asyncio.Queue[str | None] = asyncio.Queue()  # None: the client is gone
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> SocketInbox:
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._reader is not None
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def next_frame(self) -> str | None:
        """The next request frame, or None once the client has disconnected."""
        return await self._frames.get()

    @property
    def disconnected(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def _read(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    await self._error(415, BINARY_FRAME)
                elif _is_cancel(text):
                    if self.replying:
                        self.stop.set()
                    else:
                        await self.websocket.send_json({"type": "cancelled"})  # nothing was running
                elif self._frames.qsize() >= self.max_waiting:
                    await self._error(429, f"{self.max_waiting} requests already wait on this socket: "
                                           "wait for their replies")
                else:
                    self._frames.put_nowait(text)
        except (WebSocketDisconnect, RuntimeError):  # RuntimeError: the socket closed under a send
            return
        finally:
            self.stop.set()
            self._frames.put_nowait(None)

    async def _error(self, status: int, detail: str) -> None:
        await self.websocket.send_json({"type": "error", "status": status, "detail": detail})


def _is_cancel(frame: str) -> bool:
    try:
        return json.loads(frame).get("type") == "cancel"
    except (ValueError, AttributeError):
        return False
