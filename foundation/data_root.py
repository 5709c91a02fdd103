"""The raw sources' folder: any fsspec URL (a local folder, ``s3://...``). Every reader of the data
root goes through :class:`DataRoot`, so a missing file always names the setting that fixes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import fsspec

from foundation.hashing import url_sha256


class DataRoot:
    """Files under one data root, addressed by their path relative to it (``books/x/y.txt``)."""

    def __init__(self, url: str) -> None:
        self.root = url.rstrip("/")
        self.fs, self._path = fsspec.core.url_to_fs(self.root)
        self._path = self._path.rstrip("/")

    def url(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def _missing(self, rel: str) -> FileNotFoundError:
        message = f"{self.url(rel)} not found: point ROSIE_DATA_ROOT at the sample data (../shared/data)"
        return FileNotFoundError(2, message, rel)

    def exists(self, rel: str) -> bool:
        return self.fs.exists(f"{self._path}/{rel}")

    @contextmanager
    def open(self, rel: str) -> Iterator[BinaryIO]:
        """The file opened for binary reading, streamed (never read whole)."""
        try:
            handle = self.fs.open(f"{self._path}/{rel}", "rb")
        except FileNotFoundError as exc:
            raise self._missing(rel) from exc
        with handle:
            yield handle

    def read_bytes(self, rel: str) -> bytes:
        with self.open(rel) as handle:
            return handle.read()

    def sha256(self, rel: str) -> tuple[str, int]:
        """(sha256, size) of one file, streamed."""
        if not self.exists(rel):
            raise self._missing(rel)
        return url_sha256(self.url(rel))

    def list(self, rel_dir: str, suffix: str = "") -> list[str]:
        """The files directly in ``rel_dir`` whose name ends with ``suffix``, sorted."""
        folder = f"{self._path}/{rel_dir}"
        if not self.fs.isdir(folder):
            raise FileNotFoundError(2, f"folder {self.url(rel_dir)} not found under the data root", rel_dir)
        names = sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False) if p.endswith(suffix))
        return [f"{rel_dir}/{name}" for name in names]

    def find(self, rel_dir: str) -> list[str]:
        """Every file under ``rel_dir``, recursively, sorted; [] when the folder does not exist."""
        folder = f"{self._path}/{rel_dir}"
        if not self.fs.exists(folder):
            return []
        return sorted(path[len(self._path) + 1 :] for path in self.fs.find(folder))
