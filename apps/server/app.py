"""Rosie's local API for the desktop app: FastAPI over HTTP and a WebSocket for streaming.

Security defaults (``apps/server/security.py``): binds 127.0.0.1 (another address only with a
token); every /v1 route wants ``Authorization: Bearer <token>``, a random token kept in a 0600 file
unless ``ROSIE_API_TOKEN`` says otherwise (a browser's WebSocket sends it as its first frame, never
in the URL, and the logs never show it); requests from another web page (``Origin``) or for another
host name (``Host``, DNS rebinding) get 403. Request bodies, messages and generation lengths are
capped with clear 413/422 errors (never a 500: bad numbers and text are refused by the request
models); a full house answers 429; a request that does not arrive whole in time gets 408. The
OpenAPI spec is at /openapi.json (docs at /docs).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from apps.chat.service import ChatService, event_to_dict
from apps.chat.slots import BusyError
from apps.server.inbox import SocketInbox
from apps.server.protocol import deadline_protocol
from apps.server.security import LocalOnlyMiddleware, check_bind, configured_token
from foundation.redaction import SecretRedactor
from foundation.settings import Settings
from labeling.chat_format import Turn
from labeling.emotions import EMOTIONS
from labeling.special_tokens import ACTIONS
from model.engine import PromptTooLongError, Reply
from model.sampling import SamplingConfig

ERROR_STATUS = {PromptTooLongError: 413, BusyError: 429}
STATIC_DIR = Path(__file__).parent / "static"
CONVERSATION_ID = Field(default="default", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
URL_TOKEN = "send the token in the Authorization header or the first frame, never in the URL (it is logged)"


def _unicode(text: str) -> str:
    """Refuse a lone surrogate (``\\ud800``): JSON can carry it, but it is no character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not Unicode text: a lone surrogate at character {exc.start}") from None
    return text


Text = Annotated[str, AfterValidator(_unicode)]


@dataclass(frozen=True)
class Limits:
    """Caps on what one client may ask for."""

    max_body_bytes: int = 16_384
    max_message_chars: int = 2_000
    max_new_tokens: int = 256
    max_queued_frames: int = 4  # WebSocket requests waiting behind the running reply
    request_timeout_s: float = 10.0  # a request's headers and body must arrive within this
    auth_timeout_s: float = 10.0  # a browser's WebSocket must send its token frame within this


class SamplingParams(BaseModel):
    """Per-request overrides of the server's sampling defaults (omitted fields keep the default)."""

    model_config = ConfigDict(allow_inf_nan=False)

    temperature: float | None = Field(default=None, ge=0.0, le=5.0)
    top_k: int | None = Field(default=None, ge=0, le=2**31 - 1)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    repetition_penalty: float | None = Field(default=None, gt=0.0, le=5.0)
    max_new_tokens: int | None = Field(default=None, ge=1, le=2**31 - 1)
    min_new_tokens: int | None = Field(default=None, ge=0, le=2**31 - 1)
    seed: int | None = Field(default=None, ge=0, lt=2**63, description="torch seeds are 64-bit")


class ChatRequest(BaseModel):
    conversation_id: str = CONVERSATION_ID
    message: Text = Field(min_length=1, description="what the user says")
    sampling: SamplingParams | None = None


class ActionRequest(BaseModel):
    conversation_id: str = CONVERSATION_ID
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    text: Text = Field(default="", description="optional words with the action")
    sampling: SamplingParams | None = None


class EmotionRequest(BaseModel):
    conversation_id: str = CONVERSATION_ID
    message: Text = Field(min_length=1)


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
    persona_id: int = Field(
        default=0, ge=0, le=2**31 - 1, description="0 is Rosie; the model has n_personas embeddings"
    )
    system_prompt: Text = Field(min_length=1, description="the persona part, always kept in the context")


class HistoryResponse(BaseModel):
    conversation_id: str
    session: int
    persona_id: int
    system_prompt: str
    turns: list[TurnResponse]


class WebSocketRequest(BaseModel):
    """One WebSocket frame from the client: a chat message, an action, a cancel, or the token."""

    type: Literal["chat", "action", "cancel", "auth"]
    conversation_id: str = CONVERSATION_ID
    message: Text = ""
    action: Literal[ACTIONS] | None = None  # type: ignore[valid-type]
    sampling: SamplingParams | None = None
    token: str | None = Field(default=None, description="with type auth: the API token")


class RequestError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def create_app(
    service: ChatService, *, limits: Limits | None = None, api_token: str | None = None
) -> FastAPI:
    """The API over ``service``. ``api_token`` defaults to ``ROSIE_API_TOKEN``, or the token kept in
    ``ROSIE_API_TOKEN_FILE`` (generated on first use); "" turns auth off (an in-process server)."""
    limits = limits or Limits()
    settings = Settings.from_env()
    token = configured_token(settings) if api_token is None else (api_token or None)
    app = FastAPI(
        title="Rosie local API",
        version="1.0",
        description="Chat with Rosie, send user actions, read history and emotion. Stream over /v1/ws.",
    )
    app.state.token = token  # what serve() redacts from the logs

    def token_ok(presented: str | None) -> bool:
        return token is None or (presented is not None and secrets.compare_digest(presented, token))

    def bearer(headers) -> str | None:
        header = headers.get("authorization", "")
        return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None

    def require_token(request: Request) -> None:
        if not token_ok(bearer(request.headers)):
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

    app.add_middleware(  # added last, so it runs first: a foreign page or host gets nothing else
        LocalOnlyMiddleware,  # type: ignore[arg-type]
        allowed_hosts=settings.api_allowed_hosts,
        allowed_origins=settings.api_allowed_origins,
    )

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

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, and NaN or a lone surrogate in it made that a 500.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

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
            "decoding": service.engine.decoding,
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
        ``{"type": "cancel"}`` or closing the socket stops the running generation. The token comes
        in the ``Authorization`` header, or (browsers cannot set it) as the first frame,
        ``{"type": "auth", "token": ...}``, answered ``{"type": "authenticated"}``."""
        await websocket.accept()
        if "token" in websocket.query_params:
            await websocket.close(code=1008, reason=URL_TOKEN)
            return
        if not token_ok(bearer(websocket.headers)) and not await _first_frame_authenticates(websocket):
            await websocket.close(code=1008, reason="missing or wrong token: send it in the first frame")
            return
        # One reader per socket feeds a bounded inbox, so a frame that arrives mid-reply (a cancel,
        # the next message) is never lost, and a cancel or a disconnect stops the reply at once.
        try:
            async with SocketInbox(websocket, limits.max_queued_frames) as inbox:
                while (frame := await inbox.next_frame()) is not None:
                    await _serve_frame(websocket, frame, inbox)
        except WebSocketDisconnect:
            pass  # gone while we were sending; the generation was already cancelled

    async def _first_frame_authenticates(websocket: WebSocket) -> bool:
        try:
            frame = await asyncio.wait_for(websocket.receive_text(), limits.auth_timeout_s)
            request = WebSocketRequest.model_validate_json(frame)
        except (TimeoutError, ValidationError, KeyError, WebSocketDisconnect):  # KeyError: a binary frame
            return False
        if request.type != "auth" or not token_ok(request.token):
            return False
        await websocket.send_json({"type": "authenticated"})
        return True

    async def _serve_frame(websocket: WebSocket, frame: str, inbox: SocketInbox) -> None:
        """Answer one client frame."""
        try:
            if len(frame.encode()) > limits.max_body_bytes:
                raise RequestError(
                    413, f"frame of {len(frame.encode())} bytes exceeds the limit of {limits.max_body_bytes}"
                )
            try:
                request = WebSocketRequest.model_validate_json(frame)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(part) for part in error["loc"])
                raise RequestError(422, f"bad request frame: {where}: {error['msg']}") from exc
            if request.type == "auth":
                if not token_ok(request.token):
                    raise RequestError(401, "wrong token")
                await websocket.send_json({"type": "authenticated"})
                return
            turn = user_turn(request.message, request.action if request.type == "action" else None)
            if inbox.disconnected:
                return  # a frame read before the client left: nobody waits for its reply
            inbox.stop.clear()
            sampling = sampling_for(request.sampling)
            events = service.astream(request.conversation_id, turn, sampling, stop=inbox.stop)
            inbox.replying = True
            finished = False
            try:
                async with contextlib.aclosing(events):  # leaving early cancels the generation
                    async for event in events:
                        await websocket.send_json(event_to_dict(event))
                        finished = isinstance(event, Reply)
            finally:
                inbox.replying = False
            if not finished and not inbox.disconnected:
                await websocket.send_json({"type": "cancelled"})
        except (RequestError, PromptTooLongError, BusyError) as exc:
            status = exc.status if isinstance(exc, RequestError) else ERROR_STATUS[type(exc)]
            await websocket.send_json({"type": "error", "status": status, "detail": str(exc)})

    return app


def _too_large(size: int, limit: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"request body of {size} bytes exceeds the limit of {limit}"}, status_code=413
    )


def uvicorn_config(app: FastAPI, host: str, port: int, limits: Limits, log_level: str):
    """uvicorn's config for ``app``: the request deadline, a WebSocket frame cap, and the token (and
    any ``?token=``) redacted from every log line uvicorn writes, access log included."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["filters"] = {"redact": {"()": SecretRedactor, "secrets": [app.state.token or ""]}}
    for handler in log_config["handlers"].values():
        handler["filters"] = ["redact"]
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config,
        http=deadline_protocol(limits.request_timeout_s),
        # The protocol layer drops WebSocket frames far beyond the request limit before they are buffered.
        ws_max_size=max(4 * limits.max_body_bytes, 65_536),
    )


@contextlib.contextmanager
def running_server(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None
) -> Iterator[str]:
    """Run ``app`` on uvicorn in a background thread; yields ``host:port`` (port 0: a free one).

    For the load test, the browser test and embedding the API in another process.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, host, port, limits or Limits(), "warning"))
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
    """Run the API with uvicorn (blocking); refuses an address beyond loopback without a token."""
    import uvicorn

    limits = limits or Limits()
    app = create_app(service, limits=limits)
    check_bind(host, app.state.token)
    uvicorn.Server(uvicorn_config(app, host, port, limits, "info")).run()
