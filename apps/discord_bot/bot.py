"""Rosie on Discord (discord.py): she answers when mentioned or in DMs.

- History per channel: each channel (or DM) is its own conversation, ``discord:<channel id>``.
- The typing indicator shows while she generates; replies over 2,000 characters are split at a
  line or word break (never leaving an emoji alone, never inside an emoji sequence).
- Her words can ping no one: every message goes out with ``AllowedMentions.none()``, so a reply
  that says @everyone, @here, a role or a user stays plain text.
- A reply starts with her emotion's emoji and ends with a small line naming both emotions: the
  message's (as the head read it) and hers.
- Each user gets a cooldown (discord.py's own ``CooldownMapping``): a few messages per window.
- The token comes from ``DISCORD_TOKEN`` only (read by the settings) and is redacted from every log
  record, tracebacks included (``foundation.redaction``).
- A bare mention with no words is a poke.
"""

from __future__ import annotations

import logging
import re
import unicodedata

import discord
from discord.ext import commands

from apps.chat.service import ChatService
from apps.chat.slots import BusyError
from foundation.redaction import redact_handlers
from foundation.settings import Settings
from labeling.chat_format import Turn
from labeling.emotions import EMOTIONS
from model.engine import PromptTooLongError, Reply
from model.sampling import SamplingConfig

log = logging.getLogger(__name__)

DISCORD_MESSAGE_LIMIT = 2000
# One emoji per label, in the order of labeling.emotions.EMOTIONS (strict: a new label fails at import).
EMOTION_EMOJI = dict(zip(EMOTIONS, ("🙂", "😊", "😢", "😮", "😠", "😨", "🤢", "🤔", "🤩", "🥰"), strict=True))


def user_cooldown(rate: int = 3, per_s: float = 30.0) -> commands.CooldownMapping:
    """``rate`` messages per ``per_s`` seconds for each user, with discord.py's cooldown buckets."""
    return commands.CooldownMapping.from_cooldown(rate, per_s, commands.BucketType.user)


def reply_message(reply: Reply) -> str:
    """Her words after her emotion's emoji, then both emotions in Discord's small-print line."""
    mine, yours = reply.emotion.label, reply.user_emotion.label
    return f"{EMOTION_EMOJI[mine]} {reply.text}\n-# you: {EMOTION_EMOJI[yours]} {yours} · me: {mine}"


def split_message(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, each ending at a line break, else a
    space, in the second half of its window; a word longer than that is cut, but never inside a
    grapheme (an emoji sequence, a letter and its accents). So no chunk is a lone emoji or blank."""
    chunks: list[str] = []
    text = text.strip()
    while len(text) > limit:
        window = text[: limit + 1]  # a break right after the limit still ends a full chunk
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = _grapheme_start(text, limit)
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks


def _grapheme_start(text: str, index: int) -> int:
    """The nearest index at or before ``index`` that starts a grapheme."""
    joiners = ("\u200d", "\ufe0f", "\ufe0e")  # zero-width joiner, emoji/text presentation selectors
    while index > 1 and (
        text[index] in joiners
        or text[index - 1] == "\u200d"
        or unicodedata.combining(text[index])
        or "\U0001f3fb" <= text[index] <= "\U0001f3ff"  # skin tone modifiers
    ):
        index -= 1
    return index


class RosieBot(discord.Client):
    """The Discord client; ``on_message`` is the whole behaviour."""

    def __init__(
        self,
        service: ChatService,
        *,
        cooldown: commands.CooldownMapping | None = None,
        sampling: SamplingConfig | None = None,
        max_message_chars: int = 1500,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # needed to read what people say to her
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        self.service = service
        self.cooldown = cooldown or user_cooldown()
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
        retry_after = self.cooldown.get_bucket(message).update_rate_limit()
        if retry_after:
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
    redact_handlers([secret])
    RosieBot(service).run(secret, log_handler=None)  # keep our (redacting) logging setup
    return 0
