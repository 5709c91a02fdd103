"""Load test: N concurrent WebSocket chats against the local API on loopback, bounded in requests and time.

Reports errors (target: zero), p50/p99 first-token latency and aggregate generated tokens/s.
Without ``--address`` it starts the API in-process on a free loopback port, over ``--model-dir``
or, if none is given, over an untrained demo-preset model written to a temporary folder.

    python benchmarks/load_test.py --clients 8 --requests 3
    python benchmarks/load_test.py --address 127.0.0.1:8765 --token "$ROSIE_API_TOKEN"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import websockets

MESSAGES = ["Hi Rosie!", "How was your day?", "Tell me something fun.", "What do you like to eat?"]


@dataclass
class Results:
    first_token_s: list[float] = field(default_factory=list)
    tokens: int = 0
    completed: int = 0
    errors: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else float("nan")


async def chat_client(
    url: str,
    headers: dict[str, str],
    conversation_id: str,
    client: int,
    requests: int,
    sampling: dict[str, int],
    results: Results,
) -> None:
    """One user: a socket, ``requests`` messages one after another in a new conversation, every
    frame checked."""
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=30) as socket:
            for i in range(requests):
                message = {
                    "type": "chat",
                    "conversation_id": conversation_id,
                    "message": MESSAGES[(client + i) % len(MESSAGES)],
                    "sampling": {**sampling, "seed": client * 1000 + i},
                }
                sent = time.perf_counter()
                await socket.send(json.dumps(message))
                first_token = None
                while True:
                    frame = json.loads(await socket.recv())
                    if frame["type"] == "token" and first_token is None:
                        first_token = time.perf_counter() - sent
                    elif frame["type"] == "done":
                        results.tokens += frame["completion_tokens"]
                        results.completed += 1
                        if first_token is not None:
                            results.first_token_s.append(first_token)
                        break
                    elif frame["type"] == "error":
                        results.errors.append(f"client {client}: {frame['status']} {frame['detail']}")
                        break
    except (OSError, websockets.WebSocketException) as exc:
        results.errors.append(f"client {client}: {type(exc).__name__}: {exc}")


async def run_load(
    address: str,
    clients: int,
    requests: int,
    max_new_tokens: int,
    timeout_s: float,
    token: str | None,
    fixed_length: bool = False,
) -> tuple[Results, float]:
    """Run the clients at once; ``fixed_length`` makes every reply exactly ``max_new_tokens`` long."""
    sampling = {"max_new_tokens": max_new_tokens} | (
        {"min_new_tokens": max_new_tokens} if fixed_length else {}
    )
    url = f"ws://{address}/v1/ws"
    headers = {"Authorization": f"Bearer {token}"} if token else {}  # never in the URL: URLs are logged
    results = Results()
    # New conversations every run: one that went on from an earlier run would carry its history into
    # longer and longer prompts, and runs would not measure the same work.
    run_id = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(chat_client(url, headers, f"load-{run_id}-{c}", c, requests, sampling, results))
        for c in range(clients)
    ]
    _, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:  # bounded time: whatever is still running counts as an error
        task.cancel()
        results.errors.append(f"timed out after {timeout_s:.0f}s")
    await asyncio.gather(*pending, return_exceptions=True)
    return results, time.perf_counter() - started


@contextlib.contextmanager
def local_api(model_dir: Path | None, max_active: int, precision: str = "auto"):
    """The API in this process over ``model_dir`` (or a fresh untrained demo model), decoding in
    ``precision`` as ``rosie serve --precision`` does."""
    from apps.chat.service import ChatService
    from apps.chat.slots import GenerationSlots
    from apps.server.app import create_app, running_server
    from foundation.settings import Settings
    from model.engine import Engine
    from model.untrained import sample_texts, write_untrained_model

    with tempfile.TemporaryDirectory(prefix="rosie-load-") as scratch:
        if model_dir is None:
            model_dir = write_untrained_model(
                Path(scratch) / "model", sample_texts(Settings.from_env().data_root)
            )
        service = ChatService.open(
            Engine.load(model_dir, precision=precision),
            Path(scratch) / "history.sqlite",
            slots=GenerationSlots(max_active=max_active),
        )
        with running_server(create_app(service, api_token="")) as address:
            yield address


def serving_benchmark(
    preset: str = "gpt768",
    clients: int = 8,
    requests: int = 2,
    max_new_tokens: int = 32,
    repeats: int = 3,
    precision: str = "auto",
) -> dict:
    """``clients`` concurrent chats against one chat alone, on the same in-process API, interleaved
    ``repeats`` times: aggregate tokens/s of each, and first-token latency under the concurrent load.
    The engine decodes in ``precision`` (``auto``: what ``rosie serve`` picks on this machine).

    The model is an untrained ``preset`` whose tokenizer is trained on sample books (the preset's
    vocabulary, so the LM head has its real size); every reply is exactly ``max_new_tokens`` long.
    """
    import os
    import statistics

    from foundation.settings import Settings
    from model.engine import decode_precision
    from model.tokenizer_corpus import paragraphs
    from model.untrained import write_untrained_model

    data_root = Path(Settings.from_env().data_root)
    books = sorted((data_root / "books" / "gutenberg_full").glob("*.txt"))[:3]
    texts = [p for book in books for p in paragraphs(book.read_text(encoding="utf-8", errors="replace"))]
    single: list[float] = []
    aggregate: list[float] = []
    latencies: list[float] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rosie-serving-") as scratch:
        model_dir = write_untrained_model(Path(scratch) / "model", texts, preset)
        with local_api(model_dir, max_active=clients, precision=precision) as address:
            for _ in range(repeats):
                for n, rates in ((1, single), (clients, aggregate)):
                    results, wall = asyncio.run(
                        run_load(address, n, requests, max_new_tokens, 900.0, None, fixed_length=True)
                    )
                    rates.append(results.tokens / wall)
                    errors += results.errors
                    if n == clients:
                        latencies += results.first_token_s
    result = {
        "preset": preset,
        "precision": decode_precision(precision),
        "clients": clients,
        "requests": requests,
        "max_new_tokens": max_new_tokens,
        "repeats": repeats,
        "single_tokens_per_s": round(statistics.median(single), 2),
        "aggregate_tokens_per_s": round(statistics.median(aggregate), 2),
        "p50_first_token_ms": round(percentile(latencies, 50) * 1000),
        "p99_first_token_ms": round(percentile(latencies, 99) * 1000),
        "errors": len(errors),
        "load_average": os.getloadavg()[0],
    }
    print(f"serving: {json.dumps(result)}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=None, help="host:port of a running API (default: start one)")
    parser.add_argument("--token", default=None, help="bearer token of that API, if it wants one")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=8, help="concurrent WebSocket chats")
    parser.add_argument("--requests", type=int, default=3, help="messages per client")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--fixed-length", action="store_true", help="every reply exactly --max-new-tokens")
    parser.add_argument("--max-active", type=int, default=4, help="generation slots of the in-process server")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="bound on the whole run")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        address = args.address or stack.enter_context(local_api(args.model_dir, args.max_active))
        results, wall = asyncio.run(
            run_load(
                address,
                args.clients,
                args.requests,
                args.max_new_tokens,
                args.timeout_s,
                args.token,
                args.fixed_length,
            )
        )
    latencies = results.first_token_s
    print(
        f"{args.clients} clients x {args.requests} requests, {args.max_new_tokens} new tokens max, {address}"
    )
    print(f"completed {results.completed}/{args.clients * args.requests}, errors {len(results.errors)}")
    for error in results.errors[:10]:
        print(f"  error: {error}")
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(f"first-token latency p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"aggregate {results.tokens / wall:.1f} tokens/s ({results.tokens} tokens in {wall:.1f} s)")
    raise SystemExit(1 if results.errors else 0)


if __name__ == "__main__":
    main()
