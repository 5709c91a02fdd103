"""Reliability of the local API (README "Reliability"): other web pages, rebinding hosts, bad numbers
and text, binary frames, floods, slow clients, concurrent replies, a corrupt history file and
SIGTERM, on a tiny untrained model."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets.sync.client as ws_client
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed

from apps.chat.history import ConversationStore
from apps.chat.service import ChatService
from apps.chat.slots import GenerationSlots
from apps.server.app import Limits, check_bind, create_app, running_server
from foundation.settings import PROJECT_ROOT
from labeling.chat_format import Turn
from model.engine import Engine
from tests.test_engine_support import tiny_engine, tiny_model_dir

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMITS = Limits(max_body_bytes=4096, max_message_chars=1500, max_new_tokens=4, request_timeout_s=1.0)
LONG = {"max_new_tokens": 4, "min_new_tokens": 4}
BASE_URL = "http://127.0.0.1:8765"  # the Host header a local client sends
WS_URL = "ws://127.0.0.1:8765/v1/ws"
JSON = {**AUTH, "content-type": "application/json"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Engine:
    return tiny_engine(tmp_path_factory.mktemp("model"), data_root, max_new_tokens=4, seed=0)


@pytest.fixture
def service(engine: Engine, tmp_path: Path) -> ChatService:
    slots = GenerationSlots(max_active=2, max_waiting=2)
    return ChatService.open(engine, tmp_path / "history.sqlite", slots=slots)


def local_client(service: ChatService, **app_options) -> TestClient:
    app = create_app(service, limits=LIMITS, **app_options)
    return TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)


@pytest.fixture
def client(service: ChatService) -> TestClient:
    return local_client(service, api_token=TOKEN)


# --- other web pages and rebinding hosts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),  # a local program (CLI, curl, the desktop app's native side): no Origin
        ({"Origin": "http://127.0.0.1:8765"}, True),  # the chat page served by the API itself
        ({"Origin": "http://localhost:8765"}, True),
        ({"Origin": "http://evil.example"}, False),  # any web page the user happens to visit
        ({"Origin": "null"}, False),  # a sandboxed frame or a file:// page
        ({"Host": "evil.example"}, False),  # DNS rebinding: evil.example resolved to 127.0.0.1
        ({"Host": "evil.example:8765", "Origin": "http://evil.example:8765"}, False),
    ],
)
def test_other_web_pages_and_rebinding_hosts_are_refused(client: TestClient, headers: dict, allowed: bool):
    chat = client.post("/v1/chat", json={"message": "hi"}, headers={**AUTH, **headers})
    history = client.get("/v1/conversations/x/history", headers={**AUTH, **headers})
    assert (chat.status_code, history.status_code) == ((200, 200) if allowed else (403, 403)), chat.text
    if allowed:
        with client.websocket_connect(WS_URL, headers={**AUTH, **headers}) as ws:
            ws.send_json({"type": "chat", "message": "hi"})
            assert ws.receive_json()["type"] == "emotion"
    else:
        assert "Origin" in chat.json()["detail"] or "Host" in chat.json()["detail"]
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            "/v1/ws", headers={**AUTH, **headers}
        ) as ws:
            ws.receive_json()
        assert refused.value.code == 1008


def test_a_token_is_made_by_default_and_kept_user_only(service: ChatService, tmp_path: Path, monkeypatch):
    token_file = tmp_path / "config" / "rosie" / "api_token"
    monkeypatch.delenv("ROSIE_API_TOKEN", raising=False)
    monkeypatch.setenv("ROSIE_API_TOKEN_FILE", str(token_file))
    client = local_client(service)
    token = token_file.read_text().strip()
    assert len(token) >= 32
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert client.get("/v1/conversations").status_code == 401
    assert client.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    create_app(service, limits=LIMITS)  # a restart keeps the token the desktop app already read
    assert token_file.read_text().strip() == token
    token_file.chmod(0o644)  # widened by hand: narrowed again, never served as is
    create_app(service, limits=LIMITS)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(("host", "token", "refused"), [
    ("0.0.0.0", None, True), ("192.168.1.5", None, True), ("::", None, True),
    ("0.0.0.0", TOKEN, False), ("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False),
])
def test_binding_beyond_loopback_needs_a_token(host: str, token: str | None, refused: bool):
    if refused:
        with pytest.raises(SystemExit, match="ROSIE_API_TOKEN"):
            check_bind(host, token)
    else:
        check_bind(host, token)


def test_the_token_never_travels_in_a_url(client: TestClient):
    page = client.get("/").text
    assert "?token=" not in page and 'type: "auth", token' in page  # the page sends it as its first frame
    in_url = f"{WS_URL}?token={TOKEN}"
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(in_url) as ws:
        ws.receive_json()
    assert refused.value.code == 1008 and "URL" in refused.value.reason
    with client.websocket_connect(WS_URL) as ws:  # what the page does: the token in the first message
        ws.send_json({"type": "auth", "token": TOKEN})
        assert ws.receive_json() == {"type": "authenticated"}
        ws.send_json({"type": "chat", "message": "hi"})
        assert ws.receive_json()["type"] == "emotion"
    with pytest.raises(WebSocketDisconnect) as wrong, client.websocket_connect(WS_URL) as ws:
        ws.send_json({"type": "chat", "message": "hi before the token"})
        ws.receive_json()
    assert wrong.value.code == 1008


# --- bad input: 4xx with a reason, never 500 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"message": "hi", "sampling": {"seed": 1180591620717411303424}}', "seed"),
        ('{"message": "hi", "sampling": {"temperature": NaN}}', "temperature"),
        ('{"message": "hi", "sampling": {"top_p": Infinity}}', "top_p"),
        ('{"message": "hi", "sampling": {"repetition_penalty": -Infinity}}', "repetition_penalty"),
        ('{"message": "hi", "sampling": {"top_k": 1180591620717411303424}}', "top_k"),
        ('{"message": "a lone \\ud800 surrogate"}', "message"),
        ('{"message": "hi", "conversation_id": "\\udfff"}', "conversation_id"),
    ],
)
def test_bad_numbers_and_text_get_422_with_a_reason(client: TestClient, body: str, field: str):
    response = client.post("/v1/chat", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert field in json.dumps(response.json())


strings = st.text(st.characters(codec=None), max_size=12) | st.sampled_from(["", "hi", "poke"])
numbers = st.integers(-(2**80), 2**80) | st.floats(allow_nan=True, allow_infinity=True)
values = st.recursive(
    st.none() | st.booleans() | numbers | strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3),
    max_leaves=6,
)
sampling = st.fixed_dictionaries({}, optional={
    k: numbers | values for k in ("temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens",
                                  "min_new_tokens", "seed")
})
bodies = st.fixed_dictionaries({}, optional={
    "conversation_id": strings | values, "message": strings | values, "action": strings, "text": strings,
    "sampling": sampling | values, "type": st.sampled_from(["chat", "action", "cancel", "auth", "x"]),
    "persona_id": numbers, "system_prompt": strings,
})
ROUTES = [("POST", "/v1/chat"), ("POST", "/v1/actions"), ("POST", "/v1/emotion"),
          ("PUT", "/v1/conversations/fuzz/persona")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=bodies | values)
def test_fuzz_the_request_models_never_get_a_500(client: TestClient, route, body):
    method, path = route
    content = json.dumps(body)  # NaN, Infinity and lone surrogates written the way JSON can carry them
    response = client.request(method, path, content=content, headers=JSON)
    assert response.status_code in (200, 413, 422, 429), (response.status_code, content, response.text)
    if response.status_code != 200:
        assert response.json()["detail"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(frames=st.lists(bodies | values, min_size=1, max_size=2))
def test_fuzz_websocket_frames_never_break_the_socket(client: TestClient, frames):
    with client.websocket_connect(WS_URL, headers=dict(AUTH)) as ws:
        for frame in frames:
            ws.send_text(json.dumps(frame))
            while (reply := ws.receive_json())["type"] not in ("done", "error", "cancelled"):
                pass
            if frame_type(frame) == "cancel" and reply["type"] == "done":
                continue
        ws.send_json({"type": "chat", "message": "still there?"})  # the socket still answers
        assert ws.receive_json()["type"] == "emotion"


def frame_type(frame: object) -> object:
    return frame.get("type") if isinstance(frame, dict) else None


def test_a_binary_frame_gets_an_error_and_the_socket_lives(client: TestClient):
    with client.websocket_connect(WS_URL, headers=dict(AUTH)) as ws:
        ws.send_bytes(b'{"type": "chat", "message": "hi"}')
        error = ws.receive_json()
        assert (error["type"], error["status"]) == ("error", 415) and "text" in error["detail"]
        ws.send_json({"type": "chat", "message": "hi"})
        assert ws.receive_json()["type"] == "emotion"


def test_the_inbox_of_a_socket_is_bounded(client: TestClient):
    """Frames sent faster than replies are made: a few wait their turn, the rest get a 429 each."""
    with client.websocket_connect(WS_URL, headers=dict(AUTH)) as ws:
        for _ in range(40):
            ws.send_json({"type": "chat", "message": "hi", "sampling": LONG})
        replies, busy = 0, 0
        while replies + busy < 40:
            frame = ws.receive_json()
            replies += frame["type"] == "done"
            busy += frame["type"] == "error" and frame["status"] == 429
        assert busy >= 40 - 2 * LIMITS.max_queued_frames and replies >= 1


# --- history ---------------------------------------------------------------------------------------------


def test_concurrent_replies_in_one_conversation_do_not_interleave(service: ChatService):
    start = threading.Barrier(3)

    def talk(n: int) -> None:
        start.wait()
        sampling = service.engine.default_sampling.with_overrides(**LONG)
        service.reply("shared", Turn("user", f"message {n}"), sampling)

    threads = [threading.Thread(target=talk, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    roles = [t.turn.role for t in service.history("shared")]
    assert roles == ["user", "rosie"] * 3


def test_reading_creates_no_conversation(client: TestClient):
    for path in ("/v1/conversations/ghost/history", "/v1/conversations/ghost/emotion"):
        assert client.get(path, headers=AUTH).status_code == 200
    assert client.get("/v1/conversations", headers=AUTH).json() == []


def test_history_files_are_user_only(client: TestClient, service: ChatService):
    assert client.post("/v1/chat", json={"message": "hi"}, headers=AUTH).status_code == 200
    path = service.store.path
    modes = {s: stat.S_IMODE(path.with_name(path.name + s).stat().st_mode) for s in ("", "-wal", "-shm")}
    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}, modes


def test_a_corrupt_history_db_is_moved_aside_with_a_clear_error(engine: Engine, tmp_path: Path, caplog):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a SQLite database" * 100)
    service = ChatService.open(engine, path)
    client = local_client(service, api_token=TOKEN)
    assert client.post("/v1/chat", json={"message": "hi"}, headers=AUTH).status_code == 200
    [aside] = tmp_path.glob("history.sqlite.corrupt-*")
    assert aside.read_bytes().startswith(b"this is not")
    assert str(aside) in caplog.text and "not a database" in caplog.text


def test_existing_history_files_are_narrowed_to_user_only(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    ConversationStore(path, lambda turn: 1).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- slots and slow clients --------------------------------------------------------------------------------


def test_emotion_previews_take_a_generation_slot(engine: Engine, tmp_path: Path):
    slots = GenerationSlots(max_active=1, max_waiting=0)
    service = ChatService.open(engine, tmp_path / "h.sqlite", slots=slots)
    client = local_client(service, api_token=TOKEN)
    service.slots.acquire()  # a generation is running
    try:
        busy = client.post("/v1/emotion", json={"message": "I am sad"}, headers=AUTH)
        assert busy.status_code == 429 and busy.headers["Retry-After"]
    finally:
        service.slots.release()
    assert client.post("/v1/emotion", json={"message": "I am sad"}, headers=AUTH).status_code == 200


@pytest.fixture
def live(service: ChatService) -> Iterator[str]:
    with running_server(create_app(service, limits=LIMITS, api_token=TOKEN), limits=LIMITS) as address:
        yield address


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects, says nothing
        b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never finished
        b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",  # body cut short
    ],
)
def test_half_sent_requests_time_out(live: str, sent: bytes):
    host, port = live.rsplit(":", 1)
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(sent)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    waited = time.monotonic() - started
    assert LIMITS.request_timeout_s * 0.9 <= waited < LIMITS.request_timeout_s + 5, waited
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    assert httpx.get(f"http://{live}/healthz").status_code == 200  # the server itself is fine


# --- the real server process: logs and SIGTERM --------------------------------------------------------------


def test_the_served_process_redacts_its_token_and_stops_on_sigterm(tmp_path: Path, data_root: Path):
    model = tiny_model_dir(tmp_path / "model", data_root)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "ROSIE_API_TOKEN": TOKEN,
           "ROSIE_HISTORY_DB": str(tmp_path / "h.sqlite")}
    command = [sys.executable, "-m", "apps", "serve", "--model-dir", str(model), "--port", "0",
               "--max-new-tokens", "4"]
    output = subprocess.PIPE
    server = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT)
    try:
        port, startup = _bound_port(server)
        url = f"ws://127.0.0.1:{port}/v1/ws"
        with ws_client.connect(f"{url}?token={TOKEN}") as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)  # a client that still puts the token in the URL: refused, and not logged
        assert closed.value.rcvd.code == 1008
        with ws_client.connect(url, additional_headers=AUTH) as ws:
            ws.send(b"\x00\x01 binary")  # killed the reader task before, and SIGTERM then hung
            assert json.loads(ws.recv(timeout=10))["status"] == 415
            ws.send(json.dumps({"type": "chat", "message": "hi"}))
            assert json.loads(ws.recv(timeout=30))["type"] == "emotion"
            httpx.get(f"http://127.0.0.1:{port}/v1/conversations?token={TOKEN}", headers=AUTH)
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)  # with a socket still open
            output, _ = server.communicate(timeout=20)
        assert time.monotonic() - started < 15
    finally:
        if server.poll() is None:
            server.kill()
    log = startup + output.decode()
    assert "GET /v1/conversations" in log and "/v1/ws" in log  # the access log is on...
    assert TOKEN not in log  # ...and never shows the token


def _bound_port(server: subprocess.Popen) -> tuple[int, str]:
    """The port uvicorn chose (``--port 0``: no race with other servers on the machine), from its log."""
    lines = []
    for line in server.stdout:
        lines.append(line.decode())
        if "Uvicorn running on" in lines[-1]:
            return int(lines[-1].rsplit(":", 1)[1].split()[0]), "".join(lines)
    raise AssertionError("the server did not come up:\n" + "".join(lines))
