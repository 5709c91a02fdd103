"""The sample-data manifest and the ``rosie-data`` command.

``dedup/sample_manifest.tsv`` lists every sample file (path under the data root, bytes, sha256,
licence, upstream URL). It is built from the data folder's own ``MANIFEST.tsv``; the files
themselves are never committed.

    rosie-data verify                 # check the data root against the manifest (sha256 of every file)
    rosie-data fetch                  # download missing or changed files from upstream (needs network)
    rosie-data fetch --mirror DIR     # offline: copy them from a directory holding the same layout
    rosie-data build MANIFEST.tsv     # regenerate sample_manifest.tsv from the data folder's manifest

The data root is ``ROSIE_DATA_ROOT`` (default ``../shared/data``) or ``--data-root``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from foundation.atomic import atomic_path
from foundation.settings import Settings

MANIFEST_PATH = Path(__file__).with_name("sample_manifest.tsv")
COLUMNS = ("path", "bytes", "sha256", "licence", "upstream_url")
NO_UPSTREAM = "-"
DERIVED_PREFIX = "derived:"  # upstream_url of a file rebuilt from another sample file
DOWNLOAD_TIMEOUT_S = 30
GITHUB = "https://github.com"

# Commits as the public GitHub index holds the files (checked path by path, and sha256 or length
# of the text where the index stores it), where the data folder's MANIFEST.tsv gives a short
# commit or one at which the files could not be found.
VERIFIED_COMMITS = {
    "nltk/nltk": "4dc39fbf6965509f7b74316eff239bd110a03b49",
    "leahrnh/reddit_corpus": "bedbf6671d14d5fb4fa632bfd5e502bd5a8f7573",
    "sinmaniphel/py_isear_dataset": "948f4cf80161ea28e6dc5bfb4ad729f21ff47723",
    "monologg/GoEmotions-pytorch": "47f5afbbd1b49401e3204c8b1f228e21bfbd6ee0",  # data/ekman/*
    "songhaoyu/BoB": "9b8a4b1b2035261cd8415b07e29bb95441661523",
}
_GOEMOTIONS = f"{GITHUB}/google-research/google-research/raw"
_GOEMOTIONS_DATA = f"{_GOEMOTIONS}/2adf640a14f11025ae5a9d0ec493b78530d276d3/goemotions/data"
# Files whose upstream is not where the data folder's MANIFEST.tsv points.
UPSTREAM_OVERRIDES = {
    # GoEmotions' own release (same text as the sample; monologg's copy holds only ekman/ and group/)
    "emotion/goemotions/original/dev.tsv": f"{_GOEMOTIONS_DATA}/dev.tsv",
    "emotion/goemotions/original/train.tsv": f"{_GOEMOTIONS_DATA}/train.tsv",
    "emotion/goemotions/original/labels.txt": (
        f"{_GOEMOTIONS}/018cbe7892d848bc871d482fd2868089037e375f/goemotions/data/emotions.txt"
    ),
    # the data licence, not the software one
    "chitchat/topical_chat/DATALICENSE": (
        f"{GITHUB}/alexa/Topical-Chat/raw/7c939229cbcf6f55f6977b341a5a2f2fe982d53f/DATALICENSE"
    ),
}
# Sample files made from another sample file: path -> (the file it is made from, how).
DERIVED = {
    "reddit/reddit_announcements_n49rw_thread.jsonl": (
        "reddit/praw_cassettes/TestCommentForest.test_replace__all_large.json",
        "flatten_reddit_cassette",
    ),
}


@dataclass(frozen=True)
class Entry:
    path: str
    bytes: int
    sha256: str
    licence: str
    upstream_url: str  # a URL, DERIVED_PREFIX + the source path, or NO_UPSTREAM

    @property
    def derived_from(self) -> str | None:
        return (
            self.upstream_url.removeprefix(DERIVED_PREFIX)
            if self.upstream_url.startswith(DERIVED_PREFIX)
            else None
        )


def load_manifest(path: Path = MANIFEST_PATH) -> list[Entry]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [Entry(r["path"], int(r["bytes"]), r["sha256"], r["licence"], r["upstream_url"]) for r in rows]


def upstream_url(repo: str, commit: str, source_dir: str, path: str) -> str:
    """Where a sample file came from, from the data folder's MANIFEST.tsv columns.

    The sample renamed a few files (``books__``/``data__``/``sample9_`` prefixes), kept the
    upstream sub-folders below its dataset folder (``emotion/goemotions/ekman/dev.tsv`` is
    ``data/ekman/dev.tsv``) and copied each repository's licence into its folder. Known exceptions
    are in ``UPSTREAM_OVERRIDES`` and ``DERIVED``; the sha256 check after download catches any
    wrong guess.
    """
    if path in DERIVED:
        return DERIVED_PREFIX + DERIVED[path][0]
    if path in UPSTREAM_OVERRIDES:
        return UPSTREAM_OVERRIDES[path]
    if repo == "derived" or not commit or commit == "-":
        return NO_UPSTREAM
    commit = VERIFIED_COMMITS.get(repo, commit)
    *folders, name = path.split("/")
    folder = source_dir.split(" ", 1)[0] if source_dir else ""
    folder += "".join(f"{sub}/" for sub in folders[2:])  # below <area>/<dataset>/
    if name.startswith("books__"):
        folder, name = "data/books/", name.removeprefix("books__")
    elif name.startswith("data__"):
        folder, name = "data/", name.removeprefix("data__")
    elif name.startswith("sample9_"):
        name = name.removeprefix("sample9_")
    if "LICENSE" in name.upper() and name not in ("LICENSE", "LICENSE.md", "LICENSE.txt"):
        folder, name = "", "LICENSE"  # e.g. PRAW_LICENSE.txt: the repository's own licence
    elif name in ("LICENSE", "LICENSE.md", "LICENSE.txt") and repo != "gunthercox/chatterbot-corpus":
        folder = ""
    return f"{GITHUB}/{repo}/raw/{commit}/{folder}{name}"


_SUBMISSION_FIELDS = (
    "kind",
    "id",
    "name",
    "subreddit",
    "author",
    "title",
    "selftext",
    "score",
    "created_utc",
    "num_comments",
)
_COMMENT_FIELDS = (
    "kind",
    "id",
    "name",
    "parent_id",
    "link_id",
    "subreddit",
    "author",
    "body",
    "score",
    "created_utc",
    "depth",
)


def flatten_reddit_cassette(cassette: bytes) -> bytes:
    """The JSONL the sample made of a PRAW cassette, one record per line: every submission and
    comment of its listings (replies and morechildren answers included), the last fetched copy of
    each, the submission first, then the comments by creation time."""
    things: dict[str, dict] = {}

    def walk(node: object) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            kind, data = node.get("kind"), node.get("data")
            if kind in ("t1", "t3") and isinstance(data, dict):
                fields = _SUBMISSION_FIELDS if kind == "t3" else _COMMENT_FIELDS
                things[data["name"]] = {f: kind if f == "kind" else data.get(f) for f in fields}
                walk(data.get("replies"))
            elif kind == "Listing" and isinstance(data, dict):
                walk(data.get("children"))
            elif isinstance(node.get("json"), dict):  # a morechildren answer
                walk((node["json"].get("data") or {}).get("things"))

    for interaction in json.loads(cassette)["interactions"]:
        body = interaction["response"]["body"].get("string")
        if isinstance(body, str) and '"kind"' in body:
            walk(json.loads(body))
    rows = [t for t in things.values() if t["kind"] == "t3"]
    rows += sorted((t for t in things.values() if t["kind"] == "t1"), key=lambda t: t["created_utc"])
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


DERIVATIONS = {"flatten_reddit_cassette": flatten_reddit_cassette}


def build_manifest(source_tsv: Path, out: Path = MANIFEST_PATH) -> int:
    """Write the project manifest from the data folder's MANIFEST.tsv; returns the number of files."""
    with open(source_tsv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    lines = ["\t".join(COLUMNS)]
    for row in rows:
        url = upstream_url(row["source_repo"], row["source_commit"], row["source_dir"], row["path"])
        lines.append("\t".join((row["path"], row["bytes"], row["sha256"], row["licence"], url)))
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def sha256_of(url: str) -> str | None:
    """sha256 of the file at an fsspec URL, or None when it does not exist."""
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return None
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(data_root: str, entries: Iterable[Entry]) -> dict[str, list[str]]:
    """Paths by status: ``ok``, ``missing``, ``changed`` (sha256 differs from the manifest)."""
    status: dict[str, list[str]] = {"ok": [], "missing": [], "changed": []}
    for entry in entries:
        actual = sha256_of(f"{data_root}/{entry.path}")
        key = "missing" if actual is None else "ok" if actual == entry.sha256 else "changed"
        status[key].append(entry.path)
    return status


class FetchError(RuntimeError):
    """A file could be fetched neither from upstream nor from the mirror."""


class Offline(FetchError):
    """The upstream host cannot be reached at all: trying the other files would only repeat it."""


def fetch(data_root: str, entries: list[Entry], mirror: Path | None = None) -> list[str]:
    """Fetch every missing or changed file into ``data_root``; returns the fetched paths.

    With ``mirror`` the files are copied from it (offline); without, they are downloaded from their
    upstream URL, and derived files are rebuilt from their source file once that is in place. Each
    file is checked against its sha256 before it replaces anything.
    """
    todo = [e for e in entries if sha256_of(f"{data_root}/{e.path}") != e.sha256]
    todo.sort(key=lambda e: e.derived_from is not None)  # sources first
    fetched: list[str] = []
    failures: list[str] = []
    for entry in todo:
        try:
            if mirror:
                data = _from_mirror(mirror, entry)
            elif entry.derived_from:
                data = _derive(data_root, entry)
            else:
                data = _download(entry)
        except Offline as exc:
            raise FetchError(
                f"cannot reach upstream ({exc}); offline? run `rosie-data fetch --mirror DIR` "
                "with a directory holding the sample files"
            ) from exc
        except FetchError as exc:
            failures.append(str(exc))
            continue
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.sha256:
            failures.append(
                f"{entry.path}: sha256 {actual[:12]}... does not match the manifest's {entry.sha256[:12]}..."
            )
            continue
        _write(f"{data_root}/{entry.path}", data)
        fetched.append(entry.path)
    if failures:
        hint = (
            "check the mirror holds the sample layout (e.g. a copy of ../shared/data)"
            if mirror
            else "no network? run `rosie-data fetch --mirror DIR` with a directory holding the sample files"
        )
        raise FetchError(
            f"{len(failures)} of {len(todo)} files not fetched ({hint}):\n  " + "\n  ".join(failures)
        )
    return fetched


def _from_mirror(mirror: Path, entry: Entry) -> bytes:
    source = mirror / entry.path
    if not source.is_file():
        raise FetchError(f"{entry.path}: not in the mirror {mirror}")
    return source.read_bytes()


def _derive(data_root: str, entry: Entry) -> bytes:
    source = entry.derived_from
    how = DERIVED[entry.path][1]
    fs, path = fsspec.core.url_to_fs(f"{data_root}/{source}")
    if not fs.exists(path):
        raise FetchError(f"{entry.path}: made from {source} ({how}), which is not in {data_root}")
    with fs.open(path, "rb") as handle:
        return DERIVATIONS[how](handle.read())


def _download(entry: Entry) -> bytes:
    if entry.upstream_url == NO_UPSTREAM:
        raise FetchError(f"{entry.path}: no upstream copy is known; only a mirror has it")
    try:
        with urllib.request.urlopen(entry.upstream_url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as exc:  # the host answered: this one file is wrong or gone
        raise FetchError(f"{entry.path}: download from {entry.upstream_url} failed: {exc}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise Offline(f"{entry.path}: download from {entry.upstream_url} failed: {exc}") from exc


def _write(url: str, data: bytes) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    else:
        with fs.open(path, "wb") as handle:
            handle.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rosie-data", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-root", default=None, help="data root (default: ROSIE_DATA_ROOT or ../shared/data)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("verify", help="check every sample file's sha256")
    fetch_parser = commands.add_parser("fetch", help="download missing/changed files (or copy from --mirror)")
    fetch_parser.add_argument("--mirror", type=Path, help="copy from this directory instead of downloading")
    build_parser = commands.add_parser("build", help="regenerate the project manifest from a MANIFEST.tsv")
    build_parser.add_argument("source_tsv", type=Path)
    args = parser.parse_args(argv)
    data_root = (args.data_root or Settings.from_env().data_root).rstrip("/")

    if args.command == "build":
        print(f"{build_manifest(args.source_tsv)} files -> {MANIFEST_PATH}")
        return 0
    entries = load_manifest()
    if args.command == "verify":
        status = verify(data_root, entries)
        for key in ("missing", "changed"):
            for path in status[key]:
                print(f"{key:8} {path}")
        counts = ", ".join(f"{len(paths)} {key}" for key, paths in status.items())
        print(f"{counts} in {data_root}")
        if status["missing"] or status["changed"]:
            print(
                "fix: rosie-data fetch (online) or rosie-data fetch --mirror DIR (offline)", file=sys.stderr
            )
            return 1
        return 0
    try:
        fetched = fetch(data_root, entries, args.mirror)
    except FetchError as exc:
        print(f"rosie-data fetch: {exc}", file=sys.stderr)
        return 2
    print(f"fetched {len(fetched)} files into {data_root}; {len(entries) - len(fetched)} were already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
