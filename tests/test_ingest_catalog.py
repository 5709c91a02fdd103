"""The DuckDB catalog over the raw shards, and the summary ``make demo`` prints."""

from __future__ import annotations

import shutil

import duckdb

from dedup.ingest import ingest_file
from dedup.ingest_stats import record_ingest_stats
from foundation.catalog import connect, refresh_views
from foundation.settings import Settings
from pipelines.summary import summary

FILES = [
    "web/warcio/example.warc.gz",
    "books/nltk_gutenberg/blake-poems.txt",
    "reddit/reddit_announcements_n49rw_thread.jsonl",
]


def test_catalog_views_stats_and_summary(data_root, tmp_path, monkeypatch):
    root = tmp_path / "data"
    for relative in FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_root / relative, root / relative)
    (root / "reddit/bad.jsonl").write_bytes(b'{"id": "x", "body": "fine"}\nnot json\n')
    monkeypatch.setenv("ROSIE_DATA_ROOT", str(root))
    monkeypatch.setenv("ROSIE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    settings = Settings.from_env()
    results = [ingest_file(settings, path) for path in [*FILES, "reddit/bad.jsonl"]]
    with connect(settings.layout.catalog_path) as con:
        record_ingest_stats(con, results)
        record_ingest_stats(con, results[:1])  # re-ingesting a file replaces its row
        assert refresh_views(con, settings.layout) == ["raw_web", "raw_books", "raw_reddit", "quarantine_raw"]

    with duckdb.connect(str(settings.layout.catalog_path), read_only=True) as con:
        lineage = con.execute(
            "SELECT r.source_file, count(*), any_value(s.input_sha256 = r.input_sha256) "
            "FROM raw_reddit r JOIN ingest_stats s USING (source_file) GROUP BY ALL ORDER BY 1"
        ).fetchall()
        assert lineage == [
            ("reddit/bad.jsonl", 1, True),
            ("reddit/reddit_announcements_n49rw_thread.jsonl", 1429, True),
        ]
        assert con.execute("SELECT reason, position FROM quarantine_raw").fetchall() == [
            ("malformed_json", "line 2")
        ]
        assert con.execute("SELECT count(*), sum(quarantined_total) FROM ingest_stats").fetchone() == (4, 1)

    text = summary(settings)
    assert "raw_reddit                1430" in text and "quarantined by reason: malformed_json 1" in text
    assert "reddit       2       1431    1430        0           1" in text


def test_any_fsspec_url_is_a_data_root(data_root, tmp_path, monkeypatch):
    import fsspec

    from dedup.ingest import discover

    fs = fsspec.filesystem("memory")
    relative = "web/warcio/example.warc.gz"
    fs.pipe(f"/rosie-test/{relative}", (data_root / relative).read_bytes())
    fs.pipe("/rosie-test/web/warcio/LICENSE", b"not ingested")
    monkeypatch.setenv("ROSIE_DATA_ROOT", "memory://rosie-test")
    monkeypatch.setenv("ROSIE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    settings = Settings.from_env()
    assert discover(settings.data_root) == {"web": [relative], "books": [], "reddit": []}
    result = ingest_file(settings, relative)
    assert (
        result.kept == 1
        and result.input_sha256 == "5144459799b3bcb894d5143e0d8171c20c591a41733608e8392346e95e0bcf6b"
    )
    fs.rm("/rosie-test", recursive=True)
