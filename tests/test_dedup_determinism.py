"""The deduped corpus is a function of the documents alone: the same rows, byte for byte, whatever
the worker count, and each duplicate group keeps the survivor the documented rule names."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dedup.layers import run_dedup
from dedup.schema import DOCUMENT_SCHEMA
from dedup.survivors import survivor_key
from foundation.hashing import text_hash
from foundation.settings import CleanConfig, Settings

PERSUASION = "books/nltk_gutenberg/austen-persuasion.txt"


def _row(source: str, key: str, text: str) -> dict:
    return {
        "id": f"{source}/{key}",
        "source": source,
        "source_file": key.split("#")[0],
        "text": text,
        "metadata": "{}",
        "content_hash": text_hash(text),
        "input_sha256": "0" * 64,
    }


def _edit(text: str, every: int) -> str:
    """Every ``every``-th word replaced: a near-duplicate (5-gram Jaccard ~0.9 for every=100)."""
    words = text.split(" ")
    return " ".join("zebra" if i % every == every - 1 else w for i, w in enumerate(words))


def write_clean_layer(settings: Settings, data_root: Path) -> dict[str, str]:
    """Six clean shards, two per source, with duplicate groups that span sources and shards.

    Returns the expected survivor of each group. datatrove splits files over tasks by rank (task r
    reads files r, r+N, ...), so with 1, 2 and 4 workers each group's members sit in different
    tasks in a different order: an order-based survivor would change.
    """
    text = (data_root / PERSUASION).read_text(encoding="utf-8")
    paragraphs = [p.replace("\n", " ") for p in text.split("\n\n") if len(p) > 600]
    page = lambda i: "\n\n".join(paragraphs[3 * i : 3 * i + 3])  # noqa: E731
    shards: dict[str, list[dict]] = {
        "books/00000": [_row("books", f"b0.txt#{i}", page(i)) for i in range(0, 4)],
        "books/00001": [_row("books", f"b1.txt#{i}", page(i)) for i in range(4, 8)],
        "reddit/00000": [_row("reddit", f"r0.json#{i}", page(i)) for i in range(8, 12)],
        "reddit/00001": [_row("reddit", f"r1.json#{i}", page(i)) for i in range(12, 16)],
        "web/00000": [_row("web", f"w0.jsonl#{i}", page(i)) for i in range(16, 20)],
        "web/00001": [_row("web", f"w1.jsonl#{i}", page(i)) for i in range(20, 24)],
    }
    # exact copies (case and spacing differ): the books copy survives, though it is read last by one task
    shards["web/00000"].append(_row("web", "w0.jsonl#copy", page(5).upper()))
    shards["reddit/00000"].append(_row("reddit", "r0.json#copy", page(5).replace(" ", "  ")))
    # near-duplicates of a web page across reddit and web: web before reddit, then the smaller id
    shards["reddit/00000"].append(_row("reddit", "r0.json#near", _edit(page(21), 100)))
    shards["web/00000"].append(_row("web", "w0.jsonl#near", _edit(page(21), 80)))
    for name, rows in shards.items():
        path = settings.layout.clean_root / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), path)
    return {"exact": "books/b1.txt#5", "near": "web/w0.jsonl#near"}


def corpus_rows(folder: Path) -> list[tuple]:
    """Every row of a layer, all columns, in id order (shard names and row order may differ)."""
    rows = [r for p in sorted(folder.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    return sorted(tuple(r.items()) for r in rows)


def test_survivors_and_corpus_do_not_depend_on_the_task_split(settings: Settings, data_root: Path) -> None:
    """1, 2 and 4 tasks in one process (the split is what worker counts change; the slow test in
    test_dedup_slow.py runs 1, 2 and 4 worker processes and Ray)."""
    expected = write_clean_layer(settings, data_root)
    corpora = {}
    for tasks in (1, 2, 4):
        run = run_dedup(settings, CleanConfig(workers=1, tasks=tasks), [])
        assert not run.problems, run.problems
        assert run.dropped == {"exact_duplicate": 2, "near_duplicate": 2}, (tasks, run.dropped)
        corpora[tasks] = corpus_rows(settings.layout.deduped_dir)
    assert corpora[2] == corpora[1] and corpora[4] == corpora[1]
    kept = {dict(row)["id"]: json.loads(dict(row)["metadata"]) for row in corpora[1]}
    assert expected["exact"] in kept and kept[expected["exact"]]["duplicate_count"] == 2
    assert expected["near"] in kept and kept[expected["near"]]["minhash_cluster_size"] == 3


def test_survivor_key_orders_sources_then_ids() -> None:
    from datatrove.data import Document

    def key(source: str, doc_id: str) -> str:
        return survivor_key(Document(text="same", id=doc_id, metadata={"source": source}))

    assert key("books", "books/z") < key("web", "web/a") < key("reddit", "reddit/a")
    assert key("web", "web/a#1") < key("web", "web/a#2") < key("unknown", "a")
