"""The Discord bot driven through discord.py's own gateway parsers, with a fake HTTP client: no network."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from apps.chat.service import ChatService
from apps.chat.slots import GenerationSlots
from apps.discord_bot import bot as bot_module
from apps.discord_bot.bot import DISCORD_MESSAGE_LIMIT, RosieBot, run_bot, split_message, user_cooldown
from model.engine import Engine
from tests.test_engine_support import tiny_engine

BOT_ID, GUILD_ID, CHANNEL_ID, DM_ID = 1000, 2000, 3000, 4000
ALICE = {"id": "11", "username": "alice", "discriminator": "0", "avatar": None, "global_name": "Alice"}
BOT_USER = {"id": str(BOT_ID), "username": "rosie", "discriminator": "0", "avatar": None, "bot": True}
_ids = itertools.count(90_000)


class FakeHTTP:
    """Stands in for discord.py's HTTPClient: records what the bot would send to Discord."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.payloads: list[dict] = []  # everything each message would carry (allowed_mentions, ...)
        self.typing: list[int] = []

    async def send_typing(self, channel_id: int) -> None:
        self.typing.append(int(channel_id))

    async def send_message(self, channel_id: int, *, params) -> dict:
        content = params.payload["content"]
        self.sent.append((int(channel_id), content))
        self.payloads.append(params.payload)
        return message_payload(content, channel_id=int(channel_id), author=BOT_USER, guild=False)

    def __getattr__(self, name: str):
        raise AssertionError(f"the bot called Discord's HTTP API {name!r}, which this test does not expect")


def message_payload(
    content: str, *, channel_id: int, author: dict = ALICE, guild: bool = True, mentions=()
) -> dict:
    """A MESSAGE_CREATE payload as the gateway sends it."""
    data = {
        "id": str(next(_ids)),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": list(mentions),
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
    }
    if guild:
        data["guild_id"] = str(GUILD_ID)
    return data


class FakeGateway:
    """Feeds gateway events to the client exactly as discord.py's websocket does (via its parsers)."""

    def __init__(self, client: RosieBot) -> None:
        self.client = client
        self.http = FakeHTTP()
        client.http = client._connection.http = self.http

    async def connect(self) -> None:
        await self.client._async_setup_hook()
        parsers = self.client._connection.parsers
        parsers["READY"](
            {
                "v": 10,
                "user": BOT_USER,
                "guilds": [],
                "session_id": "s",
                "application": {"id": str(BOT_ID), "flags": 0},
            }
        )
        guild = {
            "id": str(GUILD_ID),
            "name": "Rosie fans",
            "owner_id": ALICE["id"],
            "roles": [],
            "emojis": [],
            "stickers": [],
            "members": [],
            "channels": [
                {
                    "id": str(CHANNEL_ID),
                    "type": 0,
                    "name": "general",
                    "position": 0,
                    "guild_id": str(GUILD_ID),
                }
            ],
            "member_count": 2,
        }
        parsers["GUILD_CREATE"](guild)

    async def message(self, content: str, **kwargs) -> None:
        """A user posts; wait until the bot has handled it."""
        self.client._connection.parsers["MESSAGE_CREATE"](message_payload(content, **kwargs))
        await asyncio.sleep(0)
        pending = [
            t for t in asyncio.all_tasks() if t is not asyncio.current_task() and "on_message" in t.get_name()
        ]
        await asyncio.gather(*pending)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Engine:
    return tiny_engine(tmp_path_factory.mktemp("model"), data_root, max_new_tokens=10, seed=0)


@pytest.fixture
def service(engine: Engine, tmp_path: Path) -> ChatService:
    return ChatService.open(engine, tmp_path / "history.sqlite", slots=GenerationSlots(max_active=2))


def run_with_gateway(service: ChatService, scenario, **bot_kwargs) -> FakeHTTP:
    async def main() -> FakeHTTP:
        client = RosieBot(service, **bot_kwargs)
        gateway = FakeGateway(client)
        await gateway.connect()
        await scenario(gateway)
        return gateway.http

    return asyncio.run(main())


MENTION = {"mentions": [BOT_USER]}


def test_replies_to_mentions_and_dms_only_with_history_per_channel(service: ChatService):
    async def scenario(gateway: FakeGateway) -> None:
        await gateway.message("just chatting among humans", channel_id=CHANNEL_ID)
        await gateway.message(f"<@{BOT_ID}> hi Rosie, how are you?", channel_id=CHANNEL_ID, **MENTION)
        await gateway.message("psst, a secret", channel_id=DM_ID, guild=False)
        await gateway.message(
            "I am a bot too", channel_id=DM_ID, guild=False, author={**ALICE, "id": "12", "bot": True}
        )

    http = run_with_gateway(service, scenario)
    assert [channel for channel, _ in http.sent] == [CHANNEL_ID, DM_ID]
    assert http.typing == [CHANNEL_ID, DM_ID]
    guild_turns = service.history(f"discord:{CHANNEL_ID}")
    assert guild_turns[0].turn.text == "Alice: hi Rosie, how are you?"  # mention stripped, speaker named
    assert guild_turns[1].turn.role == "rosie"
    yours, mine = guild_turns[0].turn.emotion, guild_turns[1].turn.emotion  # both read by the head
    assert http.sent[0][1].startswith(bot_module.EMOTION_EMOJI[mine])
    assert http.sent[0][1].endswith(f"\n-# you: {bot_module.EMOTION_EMOJI[yours]} {yours} · me: {mine}")
    assert [t.turn.text for t in service.history(f"discord:{DM_ID}")][0] == "psst, a secret"


def test_bare_mention_is_a_poke(service: ChatService):
    async def scenario(gateway: FakeGateway) -> None:
        await gateway.message(f"<@{BOT_ID}>", channel_id=CHANNEL_ID, **MENTION)

    run_with_gateway(service, scenario)
    assert service.history(f"discord:{CHANNEL_ID}")[0].turn.action == "poke"


def test_rate_limit_per_user(service: ChatService):
    async def scenario(gateway: FakeGateway) -> None:
        for i in range(3):
            await gateway.message(f"message {i}", channel_id=DM_ID, guild=False)
        await gateway.message("I am Bob", channel_id=DM_ID, guild=False, author={**ALICE, "id": "13"})

    http = run_with_gateway(service, scenario, cooldown=user_cooldown(2, 60))
    texts = [content for _, content in http.sent]
    assert len(texts) == 4 and "slow down" in texts[2]
    users = [t.turn.text for t in service.history(f"discord:{DM_ID}") if t.turn.role == "user"]
    assert users == ["message 0", "message 1", "I am Bob"]  # the limited one never reached the model


def test_long_replies_are_split_at_the_limit(service: ChatService, monkeypatch: pytest.MonkeyPatch):
    long_text = ("Rosie loves long stories " * 200).strip()
    original = service.areply

    async def long_reply(*args, **kwargs):
        reply = await original(*args, **kwargs)
        return type(reply)(**{**reply.__dict__, "text": long_text})

    monkeypatch.setattr(service, "areply", long_reply)

    async def scenario(gateway: FakeGateway) -> None:
        await gateway.message("tell me everything", channel_id=DM_ID, guild=False)

    http = run_with_gateway(service, scenario)
    chunks = [content for _, content in http.sent]
    assert len(chunks) == 3 and all(len(c) <= DISCORD_MESSAGE_LIMIT for c in chunks)
    words, footer = " ".join(chunks).split(" ", 1)[1].rsplit("-# you:", 1)  # after the emoji prefix
    assert words.strip() == long_text and " · me: " in footer  # nothing lost


def test_split_message_edges():
    assert split_message("") == []
    assert split_message("short") == ["short"]
    assert split_message("x" * 4500) == ["x" * 2000, "x" * 2000, "x" * 500]
    parts = split_message("line one\nline two", limit=10)
    assert parts == ["line one", "line two"]


def test_cooldown_is_per_user_and_resets():
    cooldown = user_cooldown(1, 10)
    alice, bob = (type("Message", (), {"author": type("User", (), {"id": i})()})() for i in (11, 12))
    def retry_after(message, now: float) -> float | None:  # (discord.py reads a time of 0 as "now")
        return cooldown.get_bucket(message, 1000 + now).update_rate_limit(1000 + now)

    assert retry_after(alice, 0.0) is None
    assert retry_after(alice, 4.0) == pytest.approx(6.0)
    assert retry_after(alice, 10.5) is None
    assert retry_after(bob, 4.0) is None  # users are independent


def test_token_comes_from_the_environment_only(service: ChatService, monkeypatch: pytest.MonkeyPatch):
    """(That it never reaches a log line: tests/test_reliability_discord.py.)"""
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="DISCORD_TOKEN is not set"):
        run_bot(service)
    seen: list[str] = []
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.fake.TOKEN-value")
    monkeypatch.setattr(RosieBot, "run", lambda self, token, **kwargs: seen.append(token))
    assert run_bot(service) == 0 and seen == ["MTIz.fake.TOKEN-value"]
