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
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class Entry:
    path: str
    bytes: int
    sha256: str
    licence: str
    upstream_url: str  # NO_UPSTREAM for derived files


def load_manifest(path: Path = MANIFEST_PATH) -> list[Entry]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [Entry(r["path"], int(r["bytes"]), r["sha256"], r["licence"], r["upstream_url"]) for r in rows]


def upstream_url(repo: str, commit: str, source_dir: str, path: str) -> str:
    """Where a sample file came from, from the data folder's MANIFEST.tsv columns.

    The sample renamed a few files (``books__``/``data__``/``sample9_`` prefixes) and copied each
    repository's licence into its folder; the sha256 check after download catches any wrong guess.
    """
    if repo == "derived" or not commit or commit == "-":
        return NO_UPSTREAM
    name = path.rsplit("/", 1)[-1]
    folder = source_dir.split(" ", 1)[0] if source_dir else ""
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
    return f"https://github.com/{repo}/raw/{commit}/{folder}{name}"


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
    upstream URL. Each file is checked against its sha256 before it replaces anything.
    """
    todo = [e for e in entries if sha256_of(f"{data_root}/{e.path}") != e.sha256]
    fetched: list[str] = []
    failures: list[str] = []
    for entry in todo:
        try:
            data = _from_mirror(mirror, entry) if mirror else _download(entry)
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


def _download(entry: Entry) -> bytes:
    if entry.upstream_url == NO_UPSTREAM:
        raise FetchError(f"{entry.path}: derived file with no upstream copy; only a mirror has it")
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
