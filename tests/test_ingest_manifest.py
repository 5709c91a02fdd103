"""The sample manifest and ``rosie-data verify|fetch``."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from dedup import manifest


def test_project_manifest_matches_the_data_folder_manifest(data_root):
    entries = manifest.load_manifest()
    with open(data_root / "MANIFEST.tsv", newline="") as handle:
        source = {row["path"]: row for row in csv.DictReader(handle, delimiter="\t")}
    assert {e.path for e in entries} == set(source)
    for entry in entries:
        assert entry.sha256 == source[entry.path]["sha256"] and entry.bytes == int(
            source[entry.path]["bytes"]
        )
    urls = {e.path: e.upstream_url for e in entries}
    assert urls["books/gutenberg_full/books__11-0.txt"].endswith(
        "RU-ECE/ECE451-Parallel/raw/c58dca3a6abedd8041057571c247e9a393cc3b4d/data/books/11-0.txt"
    )
    assert urls["reddit/reddit_announcements_n49rw_thread.jsonl"] == (
        manifest.DERIVED_PREFIX + "reddit/praw_cassettes/TestCommentForest.test_replace__all_large.json"
    )
    # sub-folders below the dataset folder are upstream sub-folders too
    assert urls["emotion/dailydialog/validation/dialogues_validation.txt"].endswith(
        "/ijcnlp_dailydialog/validation/dialogues_validation.txt"
    )
    assert urls["emotion/goemotions/ekman/dev.tsv"].endswith("/data/ekman/dev.tsv")


def test_distinct_files_have_distinct_upstream_urls():
    sha_by_url: dict[str, set[str]] = {}
    for entry in manifest.load_manifest():
        sha_by_url.setdefault(entry.upstream_url, set()).add(entry.sha256)
    shared = {url: shas for url, shas in sha_by_url.items() if len(shas) > 1}
    assert not shared, shared


def test_rebuilding_the_manifest_reproduces_the_committed_one(data_root, tmp_path):
    out = tmp_path / "manifest.tsv"
    assert manifest.build_manifest(data_root / "MANIFEST.tsv", out) == 132
    assert out.read_text() == manifest.MANIFEST_PATH.read_text()


def test_verify_passes_on_the_sample_data(data_root, capsys):
    assert manifest.main(["--data-root", str(data_root), "verify"]) == 0
    assert "132 ok, 0 missing, 0 changed" in capsys.readouterr().out


def subset(folder: str) -> list[manifest.Entry]:
    return [e for e in manifest.load_manifest() if e.path.startswith(folder)]


def test_verify_reports_missing_and_changed_files(data_root, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(data_root / "web" / "warcio", root / "web" / "warcio")
    (root / "web/warcio/LICENSE").write_text("tampered")
    assert manifest.main(["--data-root", str(root), "verify"]) == 1
    out = capsys.readouterr()
    assert "changed  web/warcio/LICENSE" in out.out and "missing  books/" in out.out
    assert "2 ok, 129 missing, 1 changed" in out.out and "rosie-data fetch" in out.err


def test_fetch_from_a_mirror_copies_and_verifies(data_root, tmp_path):
    root = tmp_path / "data"
    entries = subset("web/warcio/")
    assert len(manifest.fetch(str(root), entries, mirror=data_root)) == 3
    assert manifest.verify(str(root), entries)["ok"] == [e.path for e in entries]
    assert manifest.fetch(str(root), entries, mirror=data_root) == []  # already there


def test_fetch_refuses_a_mirror_file_with_the_wrong_sha256(data_root, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(data_root / "web" / "warcio", mirror / "web" / "warcio")
    (mirror / "web/warcio/LICENSE").write_text("not the licence")
    with pytest.raises(manifest.FetchError, match="LICENSE: sha256 .* does not match"):
        manifest.fetch(str(tmp_path / "data"), subset("web/warcio/"), mirror=mirror)
    assert not (tmp_path / "data/web/warcio/LICENSE").exists()  # nothing unverified is written


def test_fetch_rebuilds_a_derived_file_from_its_source(data_root, tmp_path, monkeypatch):
    derived = [e for e in manifest.load_manifest() if e.derived_from]
    assert [e.path for e in derived] == ["reddit/reddit_announcements_n49rw_thread.jsonl"]
    with pytest.raises(manifest.FetchError, match="made from reddit/praw_cassettes/.* which is not in"):
        manifest.fetch(str(tmp_path / "data"), derived)

    def offline(*args, **kwargs):
        raise AssertionError("a derived file is never downloaded")

    monkeypatch.setattr(manifest.urllib.request, "urlopen", offline)
    source = data_root / derived[0].derived_from
    (tmp_path / "data" / source.parent.relative_to(data_root)).mkdir(parents=True)
    shutil.copy(source, tmp_path / "data" / derived[0].derived_from)
    assert manifest.fetch(str(tmp_path / "data"), derived) == [derived[0].path]  # sha256-checked
    assert manifest.verify(str(tmp_path / "data"), derived)["ok"] == [derived[0].path]


def test_fetch_offline_without_mirror_fails_with_a_clear_message(tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(manifest.urllib.request, "urlopen", offline)
    assert manifest.main(["--data-root", str(tmp_path / "data"), "fetch"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach upstream" in err and "Network is unreachable" in err and "--mirror DIR" in err
    assert not Path(tmp_path / "data").exists() or not any(Path(tmp_path / "data").rglob("*.*"))
