"""Dedup quality on ground truth: recall and precision at MinHash's ~0.75 bar, by kind of pair.

The sample goes through ingest and the clean layer (``--raw DIR`` reuses a built raw layer),
with other editions of three of its books added (``benchmarks/book_editions.py``). A copy of the
clean layer then gets labelled pairs, and the dedup layer runs on it. Two documents are *grouped*
when they end in the same duplicate group (exact group or MinHash cluster), whichever survives.

Duplicates (recall = grouped / pairs):

- planted: for ``--plants`` documents compared on their whole text, one copy each with word edits
  (3% of words substituted, deleted or inserted), reformatting (line breaks, spacing, case,
  punctuation), truncation (first 80%), a paragraph added, a paragraph removed;
- editions: every chunk of a book's second edition should be grouped with a chunk of its first:
  the sample's real pairs (Emma, Moby Dick, Sense and Sensibility: ``gutenberg_full`` and
  ``nltk_gutenberg``) and built ones (an illustrated Pride and Prejudice with a preface,
  Treasure Island and Alice restyled). Chunks of a preface only one edition has have no
  counterpart and count as misses.

Look-alike non-duplicates (must stay apart):

- template: two different web pages inside the same site template (a shared header and footer);
- chapters: neighbouring chunks of one book (same names, same style, a chapter heading each);
- stock replies: Reddit paths whose own turn is a short stock reply ("Thanks. I'll check it
  out." / "I'll check it out") under different parent comments;
- editions: a chunk grouped with another book's chunk.

Precision = duplicate pairs grouped / (duplicate pairs grouped + look-alike pairs grouped). Every
labelled pair's exact 5-gram Jaccard (on the text MinHash compares) is reported too, so what is
caught under the bar and missed above it shows.

    PYTHONPATH=. .venv/bin/python benchmarks/dedup_quality.py [--plants 150] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.book_editions import ILLUSTRATED, Edition, jaccard, other_edition, shingle_set
from benchmarks.dedup_common import ingest_sample, report
from dedup.ingest import ingest_file
from dedup.layers import run_clean, run_dedup
from dedup.minhash import dedup_view, normalised_words
from dedup.schema import DOCUMENT_SCHEMA
from foundation.hashing import text_hash
from foundation.layout import SOURCES
from foundation.settings import CleanConfig, Settings

BAR = 0.75
LABELLED_SHARD = "zz_labelled.parquet"
VARIANTS = ("word_edits", "reformatting", "truncation", "paragraph_added", "paragraph_removed")
REAL_EDITIONS = {  # book: (first edition, second edition), both in the sample
    "Emma": ("books/gutenberg_full/books__158-0.txt", "books/nltk_gutenberg/austen-emma.txt"),
    "Moby Dick": ("books/gutenberg_full/books__2701-0.txt", "books/nltk_gutenberg/melville-moby_dick.txt"),
    "Sense and Sensibility": (
        "books/gutenberg_full/books__pg161.txt",
        "books/nltk_gutenberg/austen-sense.txt",
    ),
}
BUILT_EDITIONS = {  # book: (the sample's edition, how the other one is printed)
    "Pride and Prejudice (illustrated, preface)": (
        "books/gutenberg_full/books__Pride_and_Prejudice_JaneAusten.txt",
        ILLUSTRATED,
    ),
    "Treasure Island": (
        "books/gutenberg_full/books__120-0.txt",
        Edition("roman", 66, "curly", illustrations=20),
    ),
    "Alice in Wonderland": ("books/gutenberg_full/books__11-0.txt", Edition("arabic", 72, "curly")),
}
PREFACE_SOURCES = ("books/nltk_gutenberg/chesterton-ball.txt", "books/gutenberg_full/books__76-0.txt")
STOCK_REPLIES = (
    ("Thanks. I'll check it out.", "I'll check it out"),
    ("Thank you so much for this!", "Thank you so much for this"),
    ("Same thing happened to me last week.", "Same thing happened to me last week lol"),
    ("This is the best thing I have read today.", "This is the best thing I've read today"),
    ("Happy cake day my friend!", "Happy cake day, my friend"),
    ("I had no idea, thanks for sharing.", "I had no idea! Thanks for sharing"),
)


def _rows(folder: Path) -> list[dict]:
    return [r for p in sorted(folder.rglob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def build_clean(settings: Settings, config: CleanConfig, raw: Path | None) -> None:
    """The sample's raw layer (ingested, or copied from ``raw``) plus the built editions, cleaned."""
    if raw:
        shutil.copytree(raw, settings.layout.artifacts / "raw", dirs_exist_ok=True)
    else:
        ingest_sample(settings)
    editions_root = settings.artifacts_dir.parent / "editions"
    read = lambda path: (Path(settings.data_root) / path).read_text(encoding="utf-8-sig", errors="replace")  # noqa: E731
    sources = [read(p) for p in PREFACE_SOURCES]
    editions = Settings.from_env(data_root=str(editions_root), artifacts_dir=settings.artifacts_dir)
    for seed, (first, edition) in enumerate(BUILT_EDITIONS.values()):
        path = edition_path(first)
        (editions_root / path).parent.mkdir(parents=True, exist_ok=True)
        (editions_root / path).write_text(other_edition(read(first), edition, sources, seed=seed))
        ingest_file(editions, path)
    for source in SOURCES:
        run_clean(source, settings, config)


def edition_path(first: str) -> str:
    return f"books/other_editions/{Path(first).name}"


def plant(row: dict, variant: str, rng: random.Random, vocabulary: list[str], donor: str) -> str:
    text = row["text"]
    paragraphs = text.split("\n\n")
    if variant == "word_edits":
        words = text.split(" ")
        for _ in range(max(1, len(words) * 3 // 100)):
            i = rng.randrange(len(words))
            op = rng.choice(("sub", "del", "ins"))
            if op == "sub":
                words[i] = rng.choice(vocabulary)
            elif op == "del" and len(words) > 1:
                del words[i]
            else:
                words.insert(i, rng.choice(vocabulary))
        return " ".join(words)
    if variant == "reformatting":
        text = re.sub(r"\s+", lambda m: rng.choice([" ", "\n", "  ", " \n"]), text)
        text = re.sub(r"[,;]", lambda m: rng.choice([",", ";", " -", ""]), text)
        return text.upper() if rng.random() < 0.3 else text.lower()
    if variant == "truncation":
        return text[: int(len(text) * 0.8)]
    if variant == "paragraph_added":
        return "\n\n".join([*paragraphs, donor])
    if len(paragraphs) > 2:  # paragraph removed
        del paragraphs[rng.randrange(len(paragraphs))]
        return "\n\n".join(paragraphs)
    return text[len(text) // 10 :]  # one-paragraph document: drop its first tenth instead


def _copy(row: dict, key: str, text: str, **metadata: object) -> dict:
    meta = json.loads(row["metadata"] or "{}") | metadata
    return row | {"id": key, "text": text, "content_hash": text_hash(text), "metadata": json.dumps(meta)}


def _path(key: str, context: str, reply: str) -> dict:
    turns = [
        {"id": f"{key}/c", "author": "them", "text": context},
        {"id": key, "author": "me", "text": reply},
    ]
    text = f"A: {context}\n\nB: {reply}"
    return {
        "id": key,
        "source": "reddit",
        "source_file": "reddit/stock_replies.json",
        "text": text,
        "metadata": json.dumps({"turns": json.dumps(turns), "context_turns": 1, "n_turns": 2}),
        "content_hash": text_hash(text),
        "input_sha256": "0" * 64,
    }


def labelled_pairs(clean: list[dict], plants: int, rng: random.Random) -> tuple[list[dict], list[tuple]]:
    """(rows to add to the clean layer, pairs as (kind, label, id a, id b, is duplicate))."""
    whole = [r for r in clean if len(r["text"]) >= 600 and not json.loads(r["metadata"]).get("context_turns")]
    vocabulary = [w for r in rng.sample(clean, 200) for w in r["text"].split()[:50]]
    added, pairs = [], []
    for i, row in enumerate(rng.sample(whole, min(plants, len(whole)))):
        for variant in VARIANTS:
            donor = rng.choice(whole)["text"].split("\n\n")[0]
            key = f"planted/{i}/{variant}"
            added.append(_copy(row, key, plant(row, variant, rng, vocabulary, donor)))
            pairs.append(("planted", variant, row["id"], key, True))

    pages = [r for r in clean if r["source"] == "web" and 800 <= len(r["text"]) <= 4000]
    for i in range(min(plants, len(pages) // 3)):
        frame, first, second = rng.sample(pages, 3)
        paragraphs = frame["text"].split("\n\n")
        header, footer = paragraphs[0][:300], paragraphs[-1][:300]
        keys = []
        for j, body in enumerate((first, second)):
            keys.append(f"template/{i}/{j}")
            added.append(_copy(body, keys[-1], f"{header}\n\n{body['text']}\n\n{footer}"))
        pairs.append(("look-alike", "template", *keys, False))

    by_book = defaultdict(list)
    for row in clean:
        if row["source"] == "books":
            by_book[row["source_file"]].append(row)
    neighbours = [(a, b) for rows in by_book.values() for a, b in zip(rows, rows[1:], strict=False)]
    for a, b in rng.sample(neighbours, min(plants, len(neighbours))):
        pairs.append(("look-alike", "chapters", a["id"], b["id"], False))

    contexts = [
        json.loads(json.loads(r["metadata"])["turns"])[0]["text"] for r in clean if r["source"] == "reddit"
    ]
    for i in range(plants):
        first, second = rng.choice(STOCK_REPLIES)
        ctx_a, ctx_b = rng.sample(contexts, 2)
        keys = (f"stock/{i}/a", f"stock/{i}/b")
        added += [_path(keys[0], ctx_a, first), _path(keys[1], ctx_b, rng.choice((first, second)))]
        pairs.append(("look-alike", "stock_replies", *keys, False))
    return added, pairs


class Groups:
    """Duplicate groups from the dedup layer's outputs: exact groups (same normalised text) and
    MinHash clusters (same cluster id), joined."""

    def __init__(self, kept: list[dict], exact: list[dict], near: list[dict]) -> None:
        self.parent: dict[str, str] = {}
        by_text: dict[str, str] = {}
        by_cluster: dict[int, str] = {}
        for row in kept + near + exact:
            self.parent.setdefault(row["id"], row["id"])
            text = " ".join(normalised_words(row["text"]))
            self.union(row["id"], by_text.setdefault(text, row["id"]))
            cluster = json.loads(row["metadata"]).get("minhash_cluster_id", -1)
            if cluster != -1:
                self.union(row["id"], by_cluster.setdefault(cluster, row["id"]))

    def find(self, key: str) -> str:
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: str, b: str) -> None:
        self.parent.setdefault(b, b)
        self.parent[self.find(a)] = self.find(b)

    def together(self, a: str, b: str) -> bool:
        return self.find(a) == self.find(b)


def _view(row: dict) -> set[str]:
    return shingle_set(dedup_view(row["text"], json.loads(row["metadata"])))


def edition_results(rows: dict[str, dict], groups: Groups) -> dict[str, dict]:
    """Per book: second-edition chunks grouped with a chunk of the first, and with another book's."""
    pairs = {book: pair for book, pair in REAL_EDITIONS.items()}
    pairs |= {book: (first, edition_path(first)) for book, (first, _) in BUILT_EDITIONS.items()}
    chunks = defaultdict(list)
    books_in_group = defaultdict(set)
    for row in rows.values():
        if row["source"] == "books":
            chunks[row["source_file"]].append(row)
            books_in_group[groups.find(row["id"])].add(row["source_file"])
    results = {}
    for book, (first, second) in pairs.items():
        paired = wrong = above_bar = 0
        first_views = [_view(r) for r in chunks[first]]
        for row in chunks[second]:
            books = books_in_group[groups.find(row["id"])]
            paired += first in books
            wrong += bool(books - {first, second})
            above_bar += max(jaccard(_view(row), v) for v in first_views) >= BAR
        total = len(chunks[second])
        results[book] = {
            "chunks": total,
            "paired": paired,
            "paired_share": round(paired / total, 4) if total else 0.0,
            "with_a_counterpart_at_the_bar": above_bar,
            "grouped_with_another_book": wrong,
        }
    return results


def _summary(entry: dict) -> dict:
    """A kind's counts, with the quartiles of its pairs' exact Jaccard instead of every value."""
    values = sorted(entry["jaccard"])
    quartiles = [values[min(len(values) - 1, int(q * len(values)))] for q in (0, 0.25, 0.5, 0.75)] + values[
        -1:
    ]
    return {k: v for k, v in entry.items() if k != "jaccard"} | {
        "share_grouped": round(entry["grouped"] / entry["pairs"], 4),
        "jaccard_min_q1_median_q3_max": quartiles,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plants", type=int, default=150, help="pairs of each planted and look-alike kind")
    parser.add_argument("--raw", type=Path, help="reuse this artifacts dir's raw layer instead of ingesting")
    parser.add_argument("--clean", type=Path, help="reuse this work dir's clean layer (editions included)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the work folder here (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = CleanConfig(workers=args.workers)
    work = args.keep or Path(tempfile.mkdtemp(prefix="dedup_quality_"))
    settings = Settings.from_env(artifacts_dir=work / "artifacts", model_dir=work / "models", preset="demo")
    if args.clean:
        shutil.copytree(args.clean / "artifacts" / "clean", settings.layout.clean_root, dirs_exist_ok=True)
        (settings.layout.clean_dir("web") / LABELLED_SHARD).unlink(missing_ok=True)
    else:
        build_clean(settings, config, args.raw / "raw" if args.raw else None)

    rng = random.Random(args.seed)
    clean = _rows(settings.layout.clean_root)
    added, pairs = labelled_pairs(clean, args.plants, rng)
    pq.write_table(
        pa.Table.from_pylist(added, schema=DOCUMENT_SCHEMA),
        settings.layout.clean_dir("web") / LABELLED_SHARD,
    )
    started = time.perf_counter()
    run = run_dedup(settings, config, [])
    seconds = time.perf_counter() - started
    kept = _rows(settings.layout.deduped_dir)
    exact = _rows(settings.layout.excluded_dir("deduped_corpus") / "01_exact")
    near = _rows(settings.layout.excluded_dir("deduped_corpus") / "02_minhash")
    groups = Groups(kept, exact, near)
    rows = {r["id"]: r for r in kept + exact + near}

    by_kind: dict[str, dict] = defaultdict(
        lambda: {"pairs": 0, "grouped": 0, "above_bar": 0, "grouped_above": 0, "jaccard": []}
    )
    true_grouped = false_grouped = 0
    for kind, label, a, b, duplicate in pairs:
        entry = by_kind[f"{kind}: {label}"]
        together = groups.together(a, b)
        similarity = jaccard(_view(rows[a]), _view(rows[b]))
        above = similarity >= BAR
        entry["jaccard"].append(round(similarity, 3))
        entry["pairs"] += 1
        entry["grouped"] += together
        entry["above_bar"] += above
        entry["grouped_above"] += together and above
        true_grouped += together and duplicate
        false_grouped += together and not duplicate
    editions = edition_results(rows, groups)
    edition_pairs = sum(e["chunks"] for e in editions.values())
    edition_paired = sum(e["paired"] for e in editions.values())
    edition_wrong = sum(e["grouped_with_another_book"] for e in editions.values())
    planted = [v for k, v in by_kind.items() if k.startswith("planted")]
    recall_pairs = sum(v["pairs"] for v in planted) + edition_pairs
    recall = (sum(v["grouped"] for v in planted) + edition_paired) / recall_pairs
    true_grouped += edition_paired
    false_grouped += edition_wrong
    result = {
        "documents_in": run.rows_in,
        "dropped": run.dropped,
        "recall": round(recall, 4),
        "precision": round(true_grouped / (true_grouped + false_grouped), 4) if true_grouped else 0.0,
        "look_alike_pairs_grouped": false_grouped,
        "by_kind": {k: _summary(v) for k, v in sorted(by_kind.items())},
        "editions": editions,
        "dedup_seconds": round(seconds, 1),
        "minhash": {
            "ngrams": config.minhash_ngrams,
            "buckets": config.minhash_buckets,
            "per_bucket": config.minhash_hashes_per_bucket,
            "min_similarity": config.minhash_min_similarity,
            "min_words": config.minhash_min_words,
        },
        "load_average": os.getloadavg(),
    }
    report(result, args.json)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
