"""End to end on a sub-sample of the real data: ingest → clean (3 sources) → dedup → pretrain.

The sub-sample keeps what the layer must catch: the exact duplicates of the Common Crawl JSONL
(rows 200-279 hold a group of three copies that pass every filter), the same book in both books
folders in two editions (Emma, first 150k characters of each), and a real Reddit thread plus a
pairs file.
"""

import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup.__main__ import main as dedup_cli
from dedup.ingest import ingest_file
from foundation.hashing import text_hash
from foundation.settings import Settings

CC_JSONL = "web/dolma_cc_2019_30/CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
CC_ROWS = slice(200, 280)
EMMA = ("books/nltk_gutenberg/austen-emma.txt", "books/gutenberg_full/books__158-0.txt")
BOOK_CHARS = 150_000
REDDIT = (
    "reddit/reddit_announcements_n49rw_thread.jsonl",
    "reddit/leahrnh_reddit_pairs_2015-03-21/weather_2015-03-21.json",
)


def _trim_shard(path: Path, rows: slice | None = None, chars: int | None = None) -> None:
    table = pq.read_table(path)
    records = table.to_pylist()[rows] if rows else table.to_pylist()
    for record in records:
        if chars:
            record["text"] = record["text"][:chars]
        record["content_hash"] = text_hash(record["text"])
    pq.write_table(pa.Table.from_pylist(records, schema=table.schema), path)


def ingest_subsample(settings: Settings) -> None:
    for source_file in (CC_JSONL, "web/dolma_wget_warc/sample-0000.warc.gz", *EMMA, *REDDIT):
        ingest_file(settings, source_file)
    _trim_shard(settings.layout.raw_shard(CC_JSONL), rows=CC_ROWS)
    for book in EMMA:
        _trim_shard(settings.layout.raw_shard(book), chars=BOOK_CHARS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sub-sample run through every layer once (CLI, in-process executor) for the module."""
    artifacts = tmp_path_factory.mktemp("dedup") / "artifacts"
    env = {"ROSIE_ARTIFACTS_DIR": str(artifacts), "ROSIE_CLEAN_WORKERS": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = Settings.from_env()
        ingest_subsample(settings)
        with pytest.raises(FileNotFoundError, match="emotion_dataset"):  # decontamination needs the datasets
            dedup_cli(["dedup"])
        assert dedup_cli(["all", "--no-decontamination"]) == 0  # non-zero when any count does not add up
        yield settings
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _rows(folder: Path) -> list[dict]:
    return [r for p in sorted(folder.rglob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_every_layer_written_in_document_schema(corpus: Settings) -> None:
    layout = corpus.layout
    folders = [
        *(layout.clean_dir(s) for s in ("web", "books", "reddit")),
        layout.deduped_dir,
        layout.pretrain_dir,
    ]
    for layer in folders:
        rows = _rows(layer)
        assert rows, layer
        assert all(r["text"].strip() for r in rows), f"empty document in {layer}"
        assert all(r["content_hash"] == text_hash(r["text"]) for r in rows)


def test_exact_duplicates_in_the_crawl_are_caught(corpus: Settings) -> None:
    exact = _rows(corpus.layout.excluded_dir("deduped_corpus") / "01_exact")
    web_dups = [r for r in exact if r["source"] == "web"]
    assert web_dups, "the CC JSONL copies must be dropped as exact duplicates"
    kept = {r["content_hash"] for r in _rows(corpus.layout.deduped_dir)}
    assert all(r["content_hash"] in kept for r in web_dups), "one copy of each group survives"


def test_same_book_in_both_folders_is_caught(corpus: Settings) -> None:
    dropped = _rows(corpus.layout.excluded_dir("deduped_corpus") / "01_exact") + _rows(
        corpus.layout.excluded_dir("deduped_corpus") / "02_minhash"
    )
    books = [r for r in dropped if r["source"] == "books"]
    chunks = [r for r in _rows(corpus.layout.clean_dir("books")) if "gutenberg_full" in r["source_file"]]
    assert len(books) >= 0.8 * len(chunks), f"{len(books)} of {len(chunks)} chunks of the second edition"
    assert {r["source_file"] for r in books} <= set(EMMA)
    near = [r for r in books if "minhash_cluster_id" in json.loads(r["metadata"])]
    assert all(json.loads(r["metadata"])["minhash_cluster_size"] >= 2 for r in near)


def test_reddit_paths_are_dialogues(corpus: Settings) -> None:
    paths = _rows(corpus.layout.clean_dir("reddit"))
    for row in paths:
        turns = json.loads(json.loads(row["metadata"])["turns"])
        speakers = [turn.split(": ", 1)[0] for turn in row["text"].split("\n\n") if turn[1:3] == ": "]
        assert len(turns) >= 2 and len(set(speakers)) >= 2, row["text"][:300]
        assert all(a != b for a, b in zip(speakers, speakers[1:], strict=False)), row["text"][:300]
        assert row["text"].startswith(f"A: {turns[0]['text'].strip()}")
        assert "[deleted]" not in row["text"] and "[removed]" not in row["text"]
    pretrain = [r for r in _rows(corpus.layout.pretrain_dir) if r["source"] == "reddit"]
    assert pretrain and all("turns" not in json.loads(r["metadata"]) for r in pretrain)


def test_statistics_tables_and_views_in_the_catalog(corpus: Settings) -> None:
    con = duckdb.connect(str(corpus.layout.catalog_path), read_only=True)
    try:
        layers = {r[0] for r in con.execute("SELECT DISTINCT layer FROM filter_stats").fetchall()}
        assert layers == {"clean_web", "clean_books", "clean_reddit"}
        reasons = dict(
            con.execute(
                "SELECT reason, sum(count) FROM filter_stats "
                "WHERE layer = 'clean_web' AND reason IS NOT NULL GROUP BY reason"
            ).fetchall()
        )
        assert any(r.startswith("language_") for r in reasons), reasons
        dedup = dict(
            con.execute(
                "SELECT reason, sum(count) FROM dedup_stats WHERE reason IS NOT NULL GROUP BY reason"
            ).fetchall()
        )
        assert dedup.get("exact_duplicate", 0) > 0 and dedup.get("near_duplicate", 0) > 0, dedup
        for view in (
            "clean_web",
            "deduped_corpus",
            "pretrain_corpus",
            "excluded_deduped_corpus",
            "excluded_clean_web",
        ):
            assert con.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0] > 0, view
        for view in ("excluded_clean_reddit", "excluded_clean_web", "excluded_deduped_corpus"):
            audit = con.execute(
                "SELECT json_extract_string(metadata, '$.filter_reason') AS reason, count(*) "
                f"FROM {view} GROUP BY reason"
            ).fetchall()
            assert audit and all(reason for reason, _ in audit), f"every document in {view} names its reason"
    finally:
        con.close()
