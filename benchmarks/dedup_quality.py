"""Dedup quality: recall and precision on planted near-duplicates and on the real cross-edition books.

1. The sample goes through ingest and the clean layer once (or ``--artifacts`` reuses a built one).
   Planted originals are documents compared on their whole text (not Reddit chains with a context
   turn, which MinHash compares on their own turns).
2. A copy of the clean layer gets a planted shard: for ``--plants`` documents picked at random
   (seeded), one variant each of word edits (~3% of words substituted, deleted or inserted),
   reformatting (line breaks, spacing, case, punctuation), truncation (first 80%), a paragraph
   added, and a paragraph removed. The planted shard sorts last, so keep-first keeps the original.
3. The dedup layer runs on the copy.

Recall (planted): share of planted variants dropped as duplicates. Precision: share of dropped
documents whose 5-gram Jaccard similarity with the document that survived for them is >= 0.5
(computed exactly on the text MinHash compares, so natural duplicates count too), and share of
planted drops whose survivor is their original or the original's own survivor. Books: the same
novel sits in both folders (Emma, Moby Dick, Sense and Sensibility); recall is the share of the
second edition's chunks dropped against the first.

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

from benchmarks.dedup_common import ingest_sample, report
from dedup.layers import run_clean, run_dedup
from dedup.minhash import dedup_view, normalised_words
from dedup.schema import DOCUMENT_SCHEMA
from foundation.hashing import text_hash
from foundation.layout import SOURCES
from foundation.settings import CleanConfig, Settings

EDITION_PAIRS = {  # (first edition in input order, second edition)
    "Emma": ("books/gutenberg_full/books__158-0.txt", "books/nltk_gutenberg/austen-emma.txt"),
    "Moby Dick": ("books/gutenberg_full/books__2701-0.txt", "books/nltk_gutenberg/melville-moby_dick.txt"),
    "Sense and Sensibility": (
        "books/gutenberg_full/books__pg161.txt",
        "books/nltk_gutenberg/austen-sense.txt",
    ),
}
VARIANTS = ("word_edits", "reformatting", "truncation", "paragraph_added", "paragraph_removed")


def build_clean(settings: Settings, config: CleanConfig) -> None:
    ingest_sample(settings)
    for source in SOURCES:
        run_clean(source, settings, config)


def _rows(folder: Path) -> list[dict]:
    return [r for p in sorted(folder.rglob("*.parquet")) for r in pq.read_table(p).to_pylist()]


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


def shingles(text: str, n: int = 5) -> set[str]:
    words = normalised_words(text)
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: dict, b: dict) -> float:
    """5-gram Jaccard similarity of two rows, on the view MinHash compares."""
    x, y = (shingles(dedup_view(r["text"], json.loads(r["metadata"]))) for r in (a, b))
    return len(x & y) / len(x | y) if x | y else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plants", type=int, default=150, help="documents to plant variants of")
    parser.add_argument("--artifacts", type=Path, help="reuse this artifacts dir's clean layer")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = CleanConfig(workers=args.workers)
    work = Path(tempfile.mkdtemp(prefix="dedup_quality_"))
    settings = Settings.from_env(artifacts_dir=work / "artifacts", model_dir=work / "models", preset="demo")
    if args.artifacts:
        shutil.copytree(args.artifacts / "clean", settings.layout.clean_root)
    else:
        build_clean(settings, config)

    rng = random.Random(args.seed)
    clean = _rows(settings.layout.clean_root)
    # documents whose whole text is compared (Reddit chains with a context turn are compared on
    # their own turns, which a planted copy's text would not reproduce)
    candidates = [
        r for r in clean if len(r["text"]) >= 600 and not json.loads(r["metadata"]).get("context_turns")
    ]
    vocabulary = [w for r in rng.sample(clean, 200) for w in r["text"].split()[:50]]
    originals = rng.sample(candidates, min(args.plants, len(candidates)))
    planted, truth = [], {}
    for i, row in enumerate(originals):
        for variant in VARIANTS:
            donor = rng.choice(candidates)["text"].split("\n\n")[0]
            text = plant(row, variant, rng, vocabulary, donor)
            key = f"planted/{i}/{variant}"
            truth[key] = (row["id"], variant)
            planted.append(row | {"id": key, "text": text, "content_hash": text_hash(text)})
    pq.write_table(
        pa.Table.from_pylist(planted, schema=DOCUMENT_SCHEMA),
        settings.layout.clean_dir("web") / "zz_planted.parquet",
    )

    started = time.perf_counter()
    run = run_dedup(settings, config, [])
    seconds = time.perf_counter() - started
    kept = {r["id"]: r for r in _rows(settings.layout.deduped_dir)}
    exact = _rows(settings.layout.excluded_dir("deduped_corpus") / "01_exact")
    near = _rows(settings.layout.excluded_dir("deduped_corpus") / "02_minhash")

    # who survived for each dropped document
    survivor_by_hash = {" ".join(normalised_words(r["text"])): r for r in kept.values()}
    cluster_survivor = {}
    for r in kept.values():
        cluster = json.loads(r["metadata"]).get("minhash_cluster_id", -1)
        if cluster != -1:
            cluster_survivor[cluster] = r
    survivors = {}
    for r in exact:
        survivors[r["id"]] = survivor_by_hash.get(" ".join(normalised_words(r["text"])))
    for r in near:
        survivors[r["id"]] = cluster_survivor.get(json.loads(r["metadata"]).get("minhash_cluster_id"))
    dropped = {r["id"]: r for r in exact + near}

    by_variant = defaultdict(lambda: [0, 0])
    for key, (_, variant) in truth.items():
        by_variant[variant][1] += 1
        by_variant[variant][0] += key in dropped
    planted_recall = sum(v[0] for v in by_variant.values()) / len(truth)

    similar = sum(
        1 for key, row in dropped.items() if survivors.get(key) and jaccard(row, survivors[key]) >= 0.5
    )
    in_planted = [k for k in dropped if k.startswith("planted/")]

    def same_cluster(key: str) -> bool:  # survivor is the original, or the original's own survivor
        survivor, original = survivors.get(key), truth[key][0]
        if not survivor:
            return False
        return survivor["id"] == original or (original in survivors and survivors[original] is survivor)

    right_original = sum(1 for k in in_planted if same_cluster(k))

    books = {}
    chunks = [r for r in clean if r["source"] == "books"]
    for title, (first, second) in EDITION_PAIRS.items():
        second_chunks = [r["id"] for r in chunks if r["source_file"] == second]
        caught = [k for k in second_chunks if k in dropped]
        wrong = [k for k in caught if survivors.get(k) and survivors[k]["source_file"] not in (first, second)]
        books[title] = {
            "second_edition_chunks": len(second_chunks),
            "dropped": len(caught),
            "recall": len(caught) / len(second_chunks) if second_chunks else 0.0,
            "survivor_in_another_book": len(wrong),
        }
    result = {
        "documents_in": run.rows_in,
        "planted": len(truth),
        "planted_recall": planted_recall,
        "planted_recall_by_variant": {v: c[0] / c[1] for v, c in by_variant.items()},
        "dropped": len(dropped),
        "precision_jaccard_ge_0.5": similar / len(dropped) if dropped else 1.0,
        "planted_drops_matched_to_their_original": right_original / len(in_planted) if in_planted else 1.0,
        "book_pairs": books,
        "book_recall": sum(b["dropped"] for b in books.values())
        / sum(b["second_edition_chunks"] for b in books.values()),
        "dedup_seconds": seconds,
        "minhash": {
            "ngrams": config.minhash_ngrams,
            "buckets": config.minhash_buckets,
            "per_bucket": config.minhash_hashes_per_bucket,
        },
    }
    report(result, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
