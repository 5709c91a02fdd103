"""What both dedup benchmarks share: the sample's raw layer, and printing/saving the result."""

from __future__ import annotations

import json
from pathlib import Path

from foundation.settings import Settings


def ingest_sample(settings: Settings) -> None:
    """Every sample file through the ingest layer into ``settings``' raw shards."""
    from dedup.ingest import discover, ingest_file

    for files in discover(settings.data_root).values():
        for source_file in files:
            ingest_file(settings, source_file)


def report(result: dict, json_path: Path | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text)
