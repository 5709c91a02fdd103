"""Rosie on Discord (discord.py): she answers when mentioned or in DMs.

- History per channel: each channel (or DM) is its own conversation, ``discord:<channel id>``.
- The typing indicator shows while she generates; replies over 2,000 characters are split.
- A reply starts with her emotion's emoji and ends with a small line naming both emotions: the
  message's (as the head read it) and hers.
- Each user gets a token bucket (a burst, then one message every few seconds).
- The token comes from ``DISCORD_TOKEN`` only (read by the settings) and is scrubbed from every log record.
- A bare mention with no words is a poke.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

import discord

from apps.chat.service import ChatService
from apps.chat.slots import BusyError
from foundation.settings import Settings
from labeling.chat_format import Turn
from labeling.emotions import EMOTIONS
from model.engine import PromptTooLongError, Reply
from model.sampling import SamplingConfig

log = logging.getLogger(__name__)

DISCORD_MESSAGE_LIMIT = 2000
# One emoji per label, in the order of labeling.emotions.EMOTIONS (strict: a new label fails at import).
EMOTION_EMOJI = dict(zip(EMOTIONS, ("🙂", "😊", "😢", "😮", "😠", "😨", "🤢", "🤔", "🤩", "🥰"), strict=True))


@dataclass
class RateLimiter:
    """Token bucket per user: ``burst`` messages at once, then one every ``refill_s`` seconds."""

    burst: int = 3
    refill_s: float = 10.0
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)

    def allow(self, user_id: int, now: float | None = None) -> tuple[bool, float]:
        """Whether this user may be answered now, and if not, how many seconds until they may."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(user_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) / self.refill_s)
        if tokens >= 1.0:
            self._buckets[user_id] = (tokens - 1.0, now)
            return True, 0.0
        self._buckets[user_id] = (tokens, now)
        return False, (1.0 - tokens) * self.refill_s


def reply_message(reply: Reply) -> str:
    """Her words after her emotion's emoji, then both emotions in Discord's small-print line."""
    mine, yours = reply.emotion.label, reply.user_emotion.label
    return f"{EMOTION_EMOJI[mine]} {reply.text}\n-# you: {EMOTION_EMOJI[yours]} {yours} · me: {mine}"


def split_message(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, at a newline or space if possible."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit  # one unbroken word longer than the limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    if text:
        chunks.append(text)
    return chunks


class TokenRedactor(logging.Filter):
    """Replaces the bot token wherever it would appear in a log record."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "[DISCORD_TOKEN]"), None
        return True


class RosieBot(discord.Client):
    """The Discord client; ``on_message`` is the whole behaviour."""

    def __init__(
        self,
        service: ChatService,
        *,
        rate_limiter: RateLimiter | None = None,
        sampling: SamplingConfig | None = None,
        max_message_chars: int = 1500,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # needed to read what people say to her
        super().__init__(intents=intents)
        self.service = service
        self.rate_limiter = rate_limiter or RateLimiter()
        self.sampling = sampling
        self.max_message_chars = max_message_chars

    async def on_ready(self) -> None:
        log.info("Rosie is online as %s (id %s)", self.user, self.user.id if self.user else "?")

    def _addressed_text(self, message: discord.Message) -> str | None:
        """The words meant for Rosie, or None when the message is not for her."""
        me = self.user
        if me is None or message.author.bot or message.author.id == me.id:
            return None
        in_dm = message.guild is None
        mentioned = any(user.id == me.id for user in message.mentions)
        if not (in_dm or mentioned):
            return None
        return re.sub(rf"<@!?{me.id}>", "", message.content).strip()

    async def on_message(self, message: discord.Message) -> None:
        text = self._addressed_text(message)
        if text is None:
            return
        allowed, retry_after = self.rate_limiter.allow(message.author.id)
        if not allowed:
            await message.reply(f"Phew, slow down! Ask me again in {retry_after:.0f}s.", mention_author=False)
            return
        if len(text) > self.max_message_chars:
            await message.reply(f"That's a lot of words! Keep it under {self.max_message_chars} characters.")
            return
        if not text:
            turn = Turn("user", action="poke")  # a bare @Rosie
        elif message.guild is not None:
            turn = Turn("user", f"{message.author.display_name}: {text}")  # several people share a channel
        else:
            turn = Turn("user", text)
        async with message.channel.typing():
            try:
                reply = await self.service.areply(f"discord:{message.channel.id}", turn, self.sampling)
            except BusyError:
                await message.reply("I'm chatting with lots of people right now, try me again in a moment!")
                return
            except PromptTooLongError:
                await message.reply("That's too long for me to take in at once.")
                return
        chunks = split_message(reply_message(reply))
        await message.reply(chunks[0], mention_author=False)
        for chunk in chunks[1:]:
            await message.channel.send(chunk)


def run_bot(service: ChatService) -> int:
    """Connect to Discord with ``DISCORD_TOKEN`` and serve until stopped."""
    configured = Settings.from_env().discord_token
    secret = configured.get_secret_value().strip() if configured else ""
    if not secret:
        raise SystemExit(
            "DISCORD_TOKEN is not set: create a bot at https://discord.com/developers/applications, "
            "enable the Message Content intent, and export its token as DISCORD_TOKEN"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redactor = TokenRedactor(secret)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    RosieBot(service).run(secret, log_handler=None)  # keep our (redacting) logging setup
    return 0
