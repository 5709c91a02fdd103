"""Reliability of the Discord bot (README "Reliability"): her words ping no one, the token reaches no
log line (tracebacks included), and long replies split where a reader expects. Driven through
discord.py's own gateway parsers with a fake HTTP client (Discord's servers cannot run here)."""

from __future__ import annotations

import logging

import pytest
from test_discord_bot import BOT_ID, CHANNEL_ID, DM_ID, MENTION, run_with_gateway

from apps.chat.service import ChatService
from apps.chat.slots import GenerationSlots
from apps.discord_bot import bot as bot_module
from apps.discord_bot.bot import DISCORD_MESSAGE_LIMIT, RosieBot, run_bot, split_message, user_cooldown
from tests.test_engine_support import tiny_engine

PINGS = "@everyone @here <@&555> <@11> <@!12> hello"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, data_root) -> ChatService:
    engine = tiny_engine(tmp_path_factory.mktemp("model"), data_root, max_new_tokens=4, seed=0)
    return ChatService.open(engine, tmp_path_factory.mktemp("history") / "h.sqlite", slots=GenerationSlots())


def forced_reply(monkeypatch: pytest.MonkeyPatch, service: ChatService, text: str) -> None:
    """Her next replies say ``text`` (what an untrained or prompted model may well produce)."""
    original = service.areply

    async def saying(*args, **kwargs):
        reply = await original(*args, **kwargs)
        return type(reply)(**{**reply.__dict__, "text": text})

    monkeypatch.setattr(service, "areply", saying)


def test_her_words_can_ping_no_one(service: ChatService, monkeypatch: pytest.MonkeyPatch):
    forced_reply(monkeypatch, service, PINGS)

    async def scenario(gateway) -> None:
        await gateway.message(f"<@{BOT_ID}> say hi to everyone", channel_id=CHANNEL_ID, **MENTION)
        await gateway.message("and again", channel_id=DM_ID, guild=False)
        await gateway.message("and again", channel_id=DM_ID, guild=False)  # the cooldown's answer too

    http = run_with_gateway(service, scenario, cooldown=user_cooldown(2, 60))
    assert len(http.payloads) == 3 and PINGS in http.payloads[0]["content"]
    for payload in http.payloads:
        assert payload["allowed_mentions"] == {"parse": [], "replied_user": False}, payload


def test_the_token_reaches_no_log_line(service: ChatService, monkeypatch: pytest.MonkeyPatch, caplog):
    secret = "MTIz.fake.TOKEN-value"
    monkeypatch.setenv("DISCORD_TOKEN", secret)

    def careless_library(self, token: str, **kwargs) -> None:
        library = logging.getLogger("discord.http")
        library.warning("login with %s failed", token)
        library.warning("headers: %s", {"Authorization": f"Bot {token}"})
        library.warning("GET https://example.invalid/?token=%s", token)
        try:
            raise ConnectionError(f"401 Unauthorized for token {token}")
        except ConnectionError:
            library.exception("gateway connection failed")
        library.warning("where am I", stack_info=True, extra={"token": token})

    monkeypatch.setattr(RosieBot, "run", careless_library)
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            assert run_bot(service) == 0
        lines = [handler.format(record) for record in caplog.records]
    finally:
        logging.getLogger().removeHandler(handler)
    assert len(lines) >= 5 and "Traceback" in "\n".join(lines)
    assert not [line for line in lines if secret in line]


@pytest.mark.parametrize(
    "text",
    [
        "y" * 2500,  # one word longer than a message: used to leave the emoji alone as message 1
        "word " * 700,
        "line\n" * 600,
        "👩\u200d👩\u200d👧\u200d👦" * 700,  # a family emoji is 7 code points: never cut inside one
        "e\u0301" * 1500,  # é as e + combining accent
    ],
)
def test_long_replies_split_where_a_reader_expects(text: str):
    message = f"{bot_module.EMOTION_EMOJI['happy']} {text}"
    chunks = split_message(message)
    assert all(0 < len(chunk) <= DISCORD_MESSAGE_LIMIT for chunk in chunks)
    assert all(len(chunk) > DISCORD_MESSAGE_LIMIT // 2 for chunk in chunks[:-1])  # no lone emoji, no stubs
    assert "".join(chunks).replace(" ", "").replace("\n", "") == message.replace(" ", "").replace("\n", "")
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert right[0] not in "\u200d\u0301" and left[-1] != "\u200d"
