"""Rosie's local API for the desktop app: FastAPI over HTTP and a WebSocket for streaming.

Security defaults: binds 127.0.0.1; when ``ROSIE_API_TOKEN`` is set every /v1 route wants
``Authorization: Bearer <token>`` (the WebSocket also accepts ``?token=`` since browsers cannot set
its headers); request bodies, messages and generation lengths are capped with clear 413/422
errors; a full house answers 429. The OpenAPI spec is at /openapi.json (docs at /docs).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from apps.chat.service import ChatService, event_to_dict
from apps.chat.slots import BusyError
from foundation.settings import Settings
from labeling.chat_format import Turn
from labeling.emotions import EMOTIONS
from labeling.special_tokens import ACTIONS
from model.engine import PromptTooLongError, Reply
from model.sampling import SamplingConfig

ERROR_STATUS = {PromptTooLongError: 413, BusyError: 429}
STATIC_DIR = Path(__file__).parent / "static"
CONVERSATION_ID = Field(default="default", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")


@dataclass(frozen=True)
class Limits:
    """Caps on what one client may ask for."""

    max_body_bytes: int = 16_384
    max_message_chars: int = 2_000
    max_new_tokens: int = 256


class SamplingParams(BaseModel):
    """Per-request overrides of the server's sampling defaults (omitted fields keep the default)."""

    temperature: float | None = Field(default=None, ge=0.0, le=5.0)
    top_k: int | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    repetition_penalty: float | None = Field(default=None, gt=0.0, le=5.0)
    max_new_tokens: int | None = Field(default=None, ge=1)
    min_new_tokens: int | None = Field(default=None, ge=0)
    seed: int | None = None


class ChatRequest(BaseModel):
    conversation_id: str = CONVERSATION_ID
    message: str = Field(min_length=1, description="what the user says")
    sampling: SamplingParams | None = None


class ActionRequest(BaseModel):
    conversation_id: str = CONVERSATION_ID
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    text: str = Field(default="", description="optional words with the action")
    sampling: SamplingParams | None = None


class EmotionRequest(BaseModel):
    conversation_id: str = CONVERSATION_ID
    message: str = Field(min_length=1)


class Emotion(BaseModel):
    label: Literal[EMOTIONS]  # type: ignore[valid-type]
    probabilities: dict[str, float]


class ReplyResponse(BaseModel):
    conversation_id: str
    text: str
    emotion: Literal[EMOTIONS] = Field(description="her reply's emotion, read at its end")  # type: ignore[valid-type]
    probabilities: dict[str, float]
    user_emotion: Emotion = Field(description="the emotion of the message she answered, read at its end")
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    first_token_latency_s: float
    decode_tokens_per_s: float


class EmotionResponse(BaseModel):
    conversation_id: str
    emotion: Literal[EMOTIONS] | None  # type: ignore[valid-type]
    probabilities: dict[str, float] | None


class TurnResponse(BaseModel):
    id: int
    role: str
    text: str
    emotion: str | None
    action: str | None
    probabilities: dict[str, float] | None
    created: float


class PersonaRequest(BaseModel):
    persona_id: int = Field(default=0, ge=0, description="0 is Rosie; the model has n_personas embeddings")
    system_prompt: str = Field(min_length=1, description="the persona part, always kept in the context")


class HistoryResponse(BaseModel):
    conversation_id: str
    session: int
    persona_id: int
    system_prompt: str
    turns: list[TurnResponse]


class WebSocketRequest(BaseModel):
    """One WebSocket frame from the client: a chat message, an action, or a cancel."""

    type: Literal["chat", "action", "cancel"]
    conversation_id: str = CONVERSATION_ID
    message: str = ""
    action: Literal[ACTIONS] | None = None  # type: ignore[valid-type]
    sampling: SamplingParams | None = None


class RequestError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def create_app(
    service: ChatService, *, limits: Limits | None = None, api_token: str | None = None
) -> FastAPI:
    """The API over ``service``; ``api_token`` defaults to ``ROSIE_API_TOKEN`` (unset: no auth)."""
    limits = limits or Limits()
    if api_token is None:
        configured = Settings.from_env().api_token
        api_token = configured.get_secret_value() if configured else None
    # "" disables auth explicitly (e.g. an in-process server) even when ROSIE_API_TOKEN is set
    token = api_token or None
    app = FastAPI(
        title="Rosie local API",
        version="1.0",
        description="Chat with Rosie, send user actions, read history and emotion. Stream over /v1/ws.",
    )

    def token_ok(presented: str | None) -> bool:
        return token is None or (presented is not None and secrets.compare_digest(presented, token))

    def require_token(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not token_ok(header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None):
            raise HTTPException(
                401, "missing or wrong bearer token (see ROSIE_API_TOKEN)", {"WWW-Authenticate": "Bearer"}
            )

    authorized = [Depends(require_token)]

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next):
        # Content-Length first (cheap); a chunked body is counted as it is read.
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            return _too_large(int(declared), limits.max_body_bytes)
        if declared is None and request.method in ("POST", "PUT", "PATCH"):
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > limits.max_body_bytes:
                    return _too_large(len(body), limits.max_body_bytes)
            request._body = body  # starlette re-reads the buffered body downstream
        return await call_next(request)

    def sampling_for(params: SamplingParams | None) -> SamplingConfig:
        overrides = params.model_dump() if params else {}
        wanted = overrides.get("max_new_tokens")
        if wanted is not None and wanted > limits.max_new_tokens:
            raise RequestError(
                422, f"max_new_tokens={wanted} exceeds this server's limit of {limits.max_new_tokens}"
            )
        try:
            sampling = service.engine.default_sampling.with_overrides(**overrides)
        except ValueError as exc:
            raise RequestError(422, str(exc)) from exc
        if sampling.max_new_tokens > limits.max_new_tokens:
            sampling = sampling.with_overrides(max_new_tokens=limits.max_new_tokens)
        return sampling

    def user_turn(text: str, action: str | None = None) -> Turn:
        if len(text) > limits.max_message_chars:
            raise RequestError(
                413, f"message of {len(text)} characters exceeds the limit of {limits.max_message_chars}"
            )
        if not text and action is None:
            raise RequestError(422, "a message needs text or an action")
        return Turn("user", text, action=action)

    @app.exception_handler(RequestError)
    async def request_error(_: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(PromptTooLongError)
    async def prompt_too_long(_: Request, exc: PromptTooLongError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(BusyError)
    async def busy(_: Request, exc: BusyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "1"})

    def reply_response(conversation_id: str, reply: Reply) -> ReplyResponse:
        return ReplyResponse(conversation_id=conversation_id, **reply.to_dict())

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/healthz")
    async def health() -> dict[str, object]:
        config = service.engine.config
        return {
            "status": "ok",
            "model": {"n_layer": config.n_layer, "n_embd": config.n_embd, "block_size": config.block_size},
            "slots": {
                "active": service.slots.active,
                "waiting": service.slots.waiting,
                "max_active": service.slots.max_active,
            },
            "auth": token is not None,
        }

    @app.post("/v1/chat", dependencies=authorized)
    async def chat(request: ChatRequest) -> ReplyResponse:
        """Rosie's whole reply to a message."""
        reply = await service.areply(
            request.conversation_id, user_turn(request.message), sampling_for(request.sampling)
        )
        return reply_response(request.conversation_id, reply)

    @app.post("/v1/chat/stream", dependencies=authorized)
    async def chat_stream(request: ChatRequest) -> StreamingResponse:
        """The reply as NDJSON lines: the message's ``emotion`` (role user), ``token`` events, her
        reply's ``emotion`` (role rosie), then ``done``.
        Disconnecting stops the generation."""
        turn, sampling = user_turn(request.message), sampling_for(request.sampling)
        events = service.astream(request.conversation_id, turn, sampling)
        first = await anext(events)  # errors (413, 429) surface as statuses before streaming starts

        async def lines():
            async with contextlib.aclosing(events):
                yield json.dumps(event_to_dict(first)) + "\n"
                async for event in events:
                    yield json.dumps(event_to_dict(event)) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.post("/v1/actions", dependencies=authorized)
    async def action(request: ActionRequest) -> ReplyResponse:
        """A user action (touch, drag, drop, poke, pet, idle, ...) as a turn; Rosie replies."""
        turn = user_turn(request.text, request.action)
        reply = await service.areply(request.conversation_id, turn, sampling_for(request.sampling))
        return reply_response(request.conversation_id, reply)

    @app.post("/v1/emotion", dependencies=authorized)
    async def preview_emotion(request: EmotionRequest) -> EmotionResponse:
        """The emotion of a message said now in the conversation, as a reply would report it in
        ``user_emotion``, without replying (nothing is recorded)."""
        turn = user_turn(request.message)
        reading = await asyncio.to_thread(service.preview_emotion, request.conversation_id, turn)
        return EmotionResponse(
            conversation_id=request.conversation_id,
            emotion=reading.label,
            probabilities=reading.probabilities,
        )

    @app.get("/v1/conversations", dependencies=authorized)
    async def conversations() -> list[str]:
        return service.store.conversation_ids()

    @app.get("/v1/conversations/{conversation_id}/history", dependencies=authorized)
    async def history(conversation_id: Annotated[str, CONVERSATION_ID]) -> HistoryResponse:
        conversation = service.store.conversation(conversation_id)
        return HistoryResponse(
            conversation_id=conversation_id,
            session=conversation.session,
            persona_id=conversation.persona_id,
            system_prompt=conversation.system_prompt,
            turns=[TurnResponse(**t.to_dict()) for t in service.history(conversation_id)],
        )

    @app.put("/v1/conversations/{conversation_id}/persona", dependencies=authorized)
    async def set_persona(conversation_id: Annotated[str, CONVERSATION_ID], request: PersonaRequest) -> dict:
        """Choose the persona embedding and system prompt of a conversation."""
        if request.persona_id >= service.engine.config.n_personas:
            raise RequestError(422, f"persona_id must be below {service.engine.config.n_personas}")
        if len(request.system_prompt) > limits.max_message_chars:
            raise RequestError(
                413, f"system prompt exceeds the limit of {limits.max_message_chars} characters"
            )
        conversation = service.store.set_persona(
            conversation_id, persona_id=request.persona_id, system_prompt=request.system_prompt
        )
        return {
            "conversation_id": conversation_id,
            "persona_id": conversation.persona_id,
            "system_prompt": conversation.system_prompt,
        }

    @app.delete("/v1/conversations/{conversation_id}/history", dependencies=authorized)
    async def reset(conversation_id: Annotated[str, CONVERSATION_ID]) -> dict[str, object]:
        """Start a new session; the old one is kept on disk and remembered as a memory vector."""
        session = await asyncio.to_thread(service.reset, conversation_id)
        return {"conversation_id": conversation_id, "session": session}

    @app.get("/v1/conversations/{conversation_id}/emotion", dependencies=authorized)
    async def current_emotion(conversation_id: Annotated[str, CONVERSATION_ID]) -> EmotionResponse:
        """Rosie's emotion in her latest reply of the current session (null before she speaks)."""
        last = service.last_emotion(conversation_id)
        return EmotionResponse(
            conversation_id=conversation_id,
            emotion=last.turn.emotion if last else None,
            probabilities=last.probabilities if last else None,
        )

    @app.websocket("/v1/ws")
    async def stream(websocket: WebSocket) -> None:
        """Send ``{"type": "chat", "message": ...}`` or ``{"type": "action", "action": "drag"}``;
        receive an ``emotion`` frame for the message (``role: user``), ``token``... frames, an
        ``emotion`` frame for her reply (``role: rosie``) and ``done`` (or ``error`` with a status).
        ``{"type": "cancel"}`` or closing the socket stops the running generation."""
        presented = websocket.query_params.get("token")
        header = websocket.headers.get("authorization", "")
        if header.startswith("Bearer "):
            presented = header.removeprefix("Bearer ").strip()
        if not token_ok(presented):
            await websocket.close(code=1008, reason="missing or wrong token")
            return
        await websocket.accept()
        # One reader per socket feeds an inbox, so a frame that arrives mid-reply (a cancel, the
        # next message) is never lost and a disconnect is noticed at the next token.
        inbox: asyncio.Queue[str | None] = asyncio.Queue()

        async def read() -> None:
            try:
                while True:
                    await inbox.put(await websocket.receive_text())
            except WebSocketDisconnect:
                await inbox.put(None)

        reader = asyncio.create_task(read())
        deferred: collections.deque[str] = collections.deque()
        try:
            while (frame := deferred.popleft() if deferred else await inbox.get()) is not None:
                if not await _serve_frame(websocket, frame, inbox, deferred):
                    break
        except WebSocketDisconnect:
            pass  # gone while we were sending; the generation was already cancelled
        finally:
            reader.cancel()

    async def _serve_frame(
        websocket: WebSocket, frame: str, inbox: asyncio.Queue[str | None], deferred: collections.deque[str]
    ) -> bool:
        """Answer one client frame; False when the client disconnected meanwhile."""
        try:
            if len(frame.encode()) > limits.max_body_bytes:
                raise RequestError(
                    413, f"frame of {len(frame.encode())} bytes exceeds the limit of {limits.max_body_bytes}"
                )
            try:
                request = WebSocketRequest.model_validate_json(frame)
            except ValidationError as exc:
                raise RequestError(422, f"bad request frame: {exc.errors()[0]['msg']}") from exc
            if request.type == "cancel":
                return True  # nothing running
            turn = user_turn(request.message, request.action if request.type == "action" else None)
            events = service.astream(request.conversation_id, turn, sampling_for(request.sampling))
            async with contextlib.aclosing(events):  # leaving early cancels the generation
                async for event in events:
                    while not inbox.empty():
                        incoming = inbox.get_nowait()
                        if incoming is None:
                            return False
                        if _is_cancel(incoming):
                            await websocket.send_json({"type": "cancelled"})
                            return True
                        deferred.append(incoming)  # the next message waits for this reply
                    await websocket.send_json(event_to_dict(event))
            return True
        except (RequestError, PromptTooLongError, BusyError) as exc:
            status = exc.status if isinstance(exc, RequestError) else ERROR_STATUS[type(exc)]
            await websocket.send_json({"type": "error", "status": status, "detail": str(exc)})
            return True

    return app


def _is_cancel(frame: str) -> bool:
    try:
        return json.loads(frame).get("type") == "cancel"
    except (ValueError, AttributeError):
        return False


def _too_large(size: int, limit: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"request body of {size} bytes exceeds the limit of {limit}"}, status_code=413
    )


@contextlib.contextmanager
def running_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` on uvicorn in a background thread; yields ``host:port`` (port 0: a free one).

    For the load test, the browser test and embedding the API in another process.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="rosie-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the API server did not start on {host}:{port}")
        time.sleep(0.02)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(30)


def serve(
    service: ChatService, *, host: str = "127.0.0.1", port: int = 8765, limits: Limits | None = None
) -> None:
    """Run the API with uvicorn (blocking)."""
    import uvicorn

    limits = limits or Limits()
    # The protocol layer drops WebSocket frames far beyond the request limit before they are buffered.
    ws_max_size = max(4 * limits.max_body_bytes, 65_536)
    uvicorn.run(
        create_app(service, limits=limits), host=host, port=port, log_level="info", ws_max_size=ws_max_size
    )
