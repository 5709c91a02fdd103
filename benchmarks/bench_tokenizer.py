"""Bytes per token of RosieTokenizer at 8k/16k/32k vocabularies, on held-out English text; and
(``--speed``) its encoding speed per core on the whole sample books against HF tokenizers.

Trains on the sample books (the tokenizer asset's stand-in corpus) minus 2% of paragraphs held out
by content hash, and measures on (a) those held-out book paragraphs and (b) CCNet English web
documents the trainer never saw. The peer, trained in the same run on the same text, is the stock
``tokenizers.ByteLevelBPETokenizer`` recipe: the ratio shows what the special-token escaping and
our trainer settings cost in compression and encoding speed (ideally nothing).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_tokenizer.py [--vocab 8000 16000 32000] [--json out.json]
    PYTHONPATH=. .venv/bin/python benchmarks/bench_tokenizer.py --speed

The speed run encodes every sample book in one call per book on one thread, ours (tiktoken from the
same vocabulary and merges) interleaved with the HF backend it replaces, 3 repetitions, median, and
checks that the ids are identical.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path

import fsspec
from tokenizers import ByteLevelBPETokenizer

from foundation.settings import Settings
from model.tokenizer import RosieTokenizer
from model.tokenizer_corpus import CorpusStats, bytes_per_token, sample_corpus

WEB_ENGLISH = "web/dolma_cc_en_head"


def web_english_texts(data_root: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(data_root)
    texts = []
    for path in sorted(fs.glob(f"{root}/{WEB_ENGLISH}/*.jsonl.gz")):
        for line in gzip.decompress(fs.cat_file(path)).decode("utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return texts


def encode_mb_per_s(encode_batch: Callable[[list[str]], list[list[int]]], texts: list[str]) -> float:
    encode_batch(texts[:8])  # warm-up: the Rust thread pool starts on first use
    start = time.perf_counter()
    encode_batch(texts)
    return sum(len(t.encode("utf-8")) for t in texts) / (time.perf_counter() - start) / 1e6


def encode_speed(data_root: str, vocab_size: int = 32_000, repeats: int = 3) -> dict:
    """MB/s per core encoding the sample books (one call per book, one thread), ours vs HF."""
    import os
    import statistics

    from tokenizers import Tokenizer

    from model.tokenizer_corpus import paragraphs

    books = sorted((Path(data_root) / "books").rglob("*.txt"))
    texts = [book.read_text(encoding="utf-8", errors="replace") for book in books]
    ours = RosieTokenizer.train((p for t in texts for p in paragraphs(t)), vocab_size)
    hf = Tokenizer.from_str(ours.backend.to_str())
    hf.encode_special_tokens = True
    systems = {
        "rosie_tiktoken": lambda text: ours.encode_batch([text])[0],
        "hf_tokenizers": lambda text: hf.encode(text, add_special_tokens=False).ids,
    }
    os.environ["RAYON_NUM_THREADS"] = "1"  # one core each (HF's single encode is serial anyway)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    runs: dict[str, list[float]] = {name: [] for name in systems}
    ids: dict[str, list[list[int]]] = {}
    for _ in range(repeats):
        for name, encode in systems.items():
            start = time.perf_counter()
            ids[name] = [encode(text) for text in texts]
            runs[name].append(megabytes / (time.perf_counter() - start))
    medians = {name: statistics.median(v) for name, v in runs.items()}
    return {
        "books": len(texts),
        "megabytes": round(megabytes, 2),
        "vocab": ours.vocab_size,
        "mb_per_s_per_core": {name: round(v, 2) for name, v in medians.items()},
        "runs_mb_per_s": {name: [round(x, 2) for x in v] for name, v in runs.items()},
        "ratio": round(medians["rosie_tiktoken"] / medians["hf_tokenizers"], 2),
        "ids_identical": ids["rosie_tiktoken"] == ids["hf_tokenizers"],
        "repeats": repeats,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[8000, 16000, 32000])
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--speed", action="store_true", help="encoding speed per core instead")
    args = parser.parse_args()
    settings = Settings.from_env()
    if args.speed:
        print(json.dumps(encode_speed(settings.data_root), indent=2))
        return
    stats = CorpusStats()
    training = list(sample_corpus(settings.data_root, stats))
    held_out = {"books_held_out": stats.held_out, "web_english": web_english_texts(settings.data_root)}
    results: dict = {
        "training_paragraphs": len(training),
        "training_mb": round(stats.characters / 1e6, 2),
        "held_out_texts": {k: len(v) for k, v in held_out.items()},
        "vocab": {},
    }
    for vocab_size in args.vocab:
        start = time.perf_counter()
        ours = RosieTokenizer.train(training, vocab_size)
        train_s = time.perf_counter() - start
        peer = ByteLevelBPETokenizer()
        peer.train_from_iterator(training, vocab_size=vocab_size, min_frequency=2, show_progress=False)

        def peer_batch(texts: list[str], peer: ByteLevelBPETokenizer = peer) -> list[list[int]]:
            return [e.ids for e in peer.encode_batch(texts)]

        row = {"actual_vocab": ours.vocab_size, "train_s": round(train_s, 1)}
        for name, texts in held_out.items():
            ours_bpt, peer_bpt = bytes_per_token(ours.encode_batch, texts), bytes_per_token(peer_batch, texts)
            row[name] = {
                "bytes_per_token": round(ours_bpt, 3),
                "peer_bytes_per_token": round(peer_bpt, 3),
                "ratio": round(ours_bpt / peer_bpt, 3),
            }
        everything = held_out["books_held_out"] + held_out["web_english"]
        ours_speed, peer_speed = (
            encode_mb_per_s(ours.encode_batch, everything),
            encode_mb_per_s(peer_batch, everything),
        )
        row["encode_mb_per_s"] = {
            "ours": round(ours_speed, 2),
            "peer": round(peer_speed, 2),
            "ratio": round(ours_speed / peer_speed, 3),
        }
        results["vocab"][vocab_size] = row
        print(f"vocab {vocab_size}: {json.dumps(row)}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown_table(results))


def markdown_table(results: dict) -> str:
    lines = [
        "| vocab | books held out B/token | web English B/token | ratio to peer (books / web) |",
        "|---|---|---|---|",
    ]
    for vocab_size, row in results["vocab"].items():
        books, web = row["books_held_out"], row["web_english"]
        lines.append(
            f"| {vocab_size:,} | {books['bytes_per_token']} | {web['bytes_per_token']} "
            f"| {books['ratio']} / {web['ratio']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
