"""``source_files``: one dynamic partition per raw file under the data root (``web/...``,
``books/...``, ``reddit/...``), shared by the three raw assets; the new-file sensor adds them."""

from __future__ import annotations

import dagster as dg

SOURCE_FILES = dg.DynamicPartitionsDefinition(name="source_files")


def raw_asset_for(source_file: str) -> dg.AssetKey:
    """``web/...`` -> ``raw_web``: the raw asset a source file is a partition of."""
    return dg.AssetKey(f"raw_{source_file.split('/', 1)[0]}")
