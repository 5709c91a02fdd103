"""``rosie``: talk to Rosie from a terminal, serve her API, run her Discord bot.

    rosie chat                      interactive, streaming, both emotions shown; /reset /history /quit
    rosie say "hi there" --json     one reply in a fresh conversation (JSON: text, her emotion and
                                    yours, probabilities, timings); --conversation ID continues one
    rosie say --action drag         a user action instead of words
    rosie serve --port 8765         the local HTTP/WebSocket API (127.0.0.1 unless --host)
    rosie open                      the chat page of a running `rosie serve`, token handed over
    rosie discord                   the Discord bot (token from DISCORD_TOKEN)
    rosie untrained-model --out DIR an untrained model folder to wire an app against before training

Also runnable as ``python -m apps ...``. The model folder defaults to ``ROSIE_MODEL_DIR``
(``models/rosie_model``), the history database to ``ROSIE_HISTORY_DB``
(``artifacts/conversations.sqlite``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from foundation.layout import ModelFiles
from foundation.settings import Settings
from labeling.chat_format import Turn
from labeling.special_tokens import ACTIONS

CHAT_HELP = (
    "commands: /reset (new session), /history, /action <name> (one of: " + ", ".join(ACTIONS) + "), /quit"
)


def default_history_db() -> Path:
    return Settings.from_env().history_path


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that loads the model."""
    from model.engine import DECODE_CHOICES
    from model.sampling import SamplingConfig

    defaults = SamplingConfig()
    group = parser.add_argument_group("model")
    group.add_argument("--model-dir", type=Path, default=None, help="model folder (default: ROSIE_MODEL_DIR)")
    group.add_argument("--weights", default="final", help="weights name under weights/ or a .pth path")
    group.add_argument(
        "--precision",
        choices=DECODE_CHOICES,
        default="auto",
        help="weights while decoding: bf16 where this CPU's bf16 matmul measures faster (auto), fp32, "
        "bf16, or int8 weight-only",
    )
    group.add_argument("--db", type=Path, default=None, help="history database (default: ROSIE_HISTORY_DB)")
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--temperature", type=float, default=defaults.temperature)
    sampling.add_argument("--top-k", type=int, default=defaults.top_k)
    sampling.add_argument("--top-p", type=float, default=defaults.top_p)
    sampling.add_argument("--repetition-penalty", type=float, default=defaults.repetition_penalty)
    sampling.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    sampling.add_argument("--min-new-tokens", type=int, default=defaults.min_new_tokens)
    sampling.add_argument("--seed", type=int, default=None)


def open_service(args: argparse.Namespace, history_db: str | Path | None = None, **service_kwargs):
    """Load the engine and open the history database (``history_db``, else the one the options name)."""
    from apps.chat.service import ChatService
    from model.engine import Engine
    from model.sampling import SamplingConfig

    sampling = SamplingConfig(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        max_new_tokens=args.max_new_tokens,
        min_new_tokens=args.min_new_tokens,
        seed=args.seed,
    )
    model_dir = args.model_dir or Settings.from_env().model_dir
    if not ModelFiles(model_dir).config_path.exists():
        raise SystemExit(
            f"no model at {model_dir}: train one (make demo), set ROSIE_MODEL_DIR, pass --model-dir, "
            "or write an untrained one with `rosie untrained-model --out DIR`"
        )
    engine = Engine.load(model_dir, args.weights, precision=args.precision, sampling=sampling)
    return ChatService.open(engine, history_db or args.db or default_history_db(), **service_kwargs)


def _emotion(reading) -> str:
    return f"{reading.label} {reading.probabilities[reading.label]:.2f}"


def _print_reply(service, conversation_id: str, turn: Turn, out: TextIO) -> None:
    """Stream one reply to ``out``: the words as they come, then her emotion and the user's."""
    from model.engine import Reply, TokenEvent

    out.write("Rosie: ")
    for event in service.stream_reply(conversation_id, turn):
        if isinstance(event, TokenEvent):
            out.write(event.text)
        elif isinstance(event, Reply):
            out.write(f"  [rosie: {_emotion(event.emotion)} | you: {_emotion(event.user_emotion)}]")
        out.flush()
    out.write("\n")


def run_chat(service, conversation_id: str, lines: Iterable[str], out: TextIO) -> None:
    """The interactive loop over ``lines`` (stdin in a terminal)."""
    from model.engine import PromptTooLongError

    out.write(f"Chatting with Rosie (conversation {conversation_id!r}). {CHAT_HELP}\n")
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line == "/quit":
            break
        if line == "/reset":
            session = service.reset(conversation_id)
            out.write(f"(new session {session}; Rosie keeps a memory of the last one)\n")
            continue
        if line == "/history":
            for stored in service.history(conversation_id):
                turn = stored.turn
                who = (
                    turn.role
                    + (f" [{turn.emotion}]" if turn.emotion else "")
                    + (f" *{turn.action}*" if turn.action else "")
                )
                out.write(f"{who}: {turn.text}\n")
            continue
        if line.startswith("/action"):
            action = line.removeprefix("/action").strip()
            if action not in ACTIONS:
                out.write(f"unknown action {action!r}; {CHAT_HELP}\n")
                continue
            turn = Turn("user", action=action)
        elif line.startswith("/"):
            out.write(f"unknown command {line!r}; {CHAT_HELP}\n")
            continue
        else:
            turn = Turn("user", line)
        try:
            _print_reply(service, conversation_id, turn, out)
        except PromptTooLongError as exc:
            out.write(f"(message too long: {exc})\n")
        out.flush()


def _typed_lines() -> Iterator[str]:
    """Lines typed at a ``You:`` prompt, until end of input."""
    while True:
        try:
            yield input("You: ")
        except EOFError:
            return


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rosie", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    chat = commands.add_parser("chat", help="interactive streaming chat")
    chat.add_argument("--conversation", default="cli", help="conversation id (history is kept per id)")
    add_model_arguments(chat)

    say = commands.add_parser("say", help="one reply")
    say.add_argument("text", nargs="?", default="", help="what you say to Rosie")
    say.add_argument("--action", choices=ACTIONS, default=None, help="a user action (with or without text)")
    say.add_argument("--json", action="store_true", help="print the reply as JSON")
    say.add_argument(
        "--conversation",
        default=None,
        help="continue this conversation (its history is kept); default: a fresh one, nothing kept",
    )
    add_model_arguments(say)

    serve = commands.add_parser("serve", help="the local HTTP/WebSocket API")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--max-active", type=int, default=4, help="generations running at once")
    add_model_arguments(serve)

    page = commands.add_parser("open", help="open the chat page of a running `rosie serve` in the browser")
    page.add_argument("--host", default="127.0.0.1")
    page.add_argument("--port", type=int, default=8765)

    bot = commands.add_parser("discord", help="the Discord bot (token from DISCORD_TOKEN)")
    add_model_arguments(bot)

    untrained = commands.add_parser("untrained-model", help="write a random-weight model folder")
    untrained.add_argument("--out", type=Path, required=True)
    untrained.add_argument("--preset", default="demo")
    return parser


def open_page(host: str, port: int) -> int:
    """Open the chat page with the API token after ``#``, the part of a URL a browser never sends
    (the page keeps it for the session and removes it from the address bar)."""
    import webbrowser

    from apps.server.security import configured_token

    token = configured_token(Settings.from_env())
    url = f"http://{host}:{port}/"
    webbrowser.open(url + (f"#token={token}" if token else ""))
    print(f"opened {url} in the browser")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "untrained-model":
        from model.untrained import sample_texts, write_untrained_model

        try:
            texts = sample_texts(Settings.from_env().data_root)
        except FileNotFoundError as exc:
            raise SystemExit(str(exc)) from None
        path = write_untrained_model(args.out, texts, args.preset)
        print(f"wrote an untrained {args.preset} model to {path}")
        return 0
    if args.command == "discord":
        from apps.discord_bot.bot import run_bot

        return run_bot(open_service(args))
    if args.command == "open":
        return open_page(args.host, args.port)
    if args.command == "serve":
        from apps.chat.slots import GenerationSlots
        from apps.server.app import serve
        from apps.server.security import check_bind, configured_token

        settings = Settings.from_env()
        check_bind(args.host, configured_token(settings))  # before minutes of model loading
        where = "ROSIE_API_TOKEN" if settings.api_token is not None else settings.api_token_file
        print(f"Rosie's API on http://{args.host}:{args.port} (token: {where}); `rosie open` shows the page")
        service = open_service(args, slots=GenerationSlots(max_active=args.max_active))
        decoding = service.engine.decoding
        print(f"decoding in {decoding['precision']}, KV cache in {decoding['kv_cache']}")
        serve(service, host=args.host, port=args.port)
        return 0
    # One-shot `say`: a conversation of its own in an in-memory history, gone when the command ends.
    one_shot = args.command == "say" and args.conversation is None
    service = open_service(args, history_db=":memory:" if one_shot else None)
    if args.command == "chat":
        try:
            run_chat(
                service, args.conversation, _typed_lines() if sys.stdin.isatty() else sys.stdin, sys.stdout
            )
        except KeyboardInterrupt:
            print()
        return 0
    if not args.text and args.action is None:
        raise SystemExit("say what? give some text or --action")
    from model.engine import PromptTooLongError

    try:
        reply = service.reply(args.conversation or "say", Turn("user", args.text, action=args.action))
    except PromptTooLongError as exc:
        raise SystemExit(str(exc)) from None
    if args.json:
        print(json.dumps({"conversation_id": args.conversation, **reply.to_dict()}, ensure_ascii=False))
    else:
        print(f"Rosie [{reply.emotion.label}] (you: {reply.user_emotion.label}): {reply.text}")
    return 0
