"""Atomic writes: write to a temporary name in the same folder, then rename.

A killed run leaves at most a ``*.tmp-*`` file behind, never a half-written output that a later
step could read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_atomic(table: pa.Table, final: str | os.PathLike) -> Path:
    """Write ``table`` as Parquet (zstd) to ``final`` atomically."""
    with atomic_path(final) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(final)


def write_text_atomic(text: str, final: str | os.PathLike) -> Path:
    """Write UTF-8 text to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


def replace_directory(staging: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Put the folder ``staging`` in place of ``final`` (an empty one when ``staging`` does not exist).

    The old ``final`` is renamed aside first and removed last, so a reader finds the old folder or
    the new one, never a half-written mix.
    """
    staging, final = Path(staging), Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    aside = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        os.replace(final, aside)
    if staging.exists():
        os.replace(staging, final)
    else:
        final.mkdir()
    shutil.rmtree(aside, ignore_errors=True)
    return final
