"""The pretraining corpus: deduped documents as plain training text in DOCUMENT_SCHEMA.

Reddit paths already are plain dialogue text (``A: ...`` / ``B: ...`` paragraphs); here the
per-turn JSON and cluster bookkeeping are dropped from the metadata, and documents that ended up
empty are counted and dropped.
"""

from __future__ import annotations

import shutil

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from dedup.cleaning import Exclusions
from dedup.documents import DocumentReader, DocumentWriter
from dedup.executors import Stage, run_stages
from dedup.stats import LayerStats, read_stage_stats
from foundation.atomic import replace_directory
from foundation.settings import CleanConfig, Settings

# Bookkeeping that the training side never reads.
TRIMMED_KEYS = ("turns", "comment_ids", "duplicate_count", "profanity_ratio", "filter_reason")


class PretrainText(BaseFilter):
    """Trims metadata; drops documents whose text is blank (reason ``empty``)."""

    name = "🏁 Pretraining text"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        doc.text = doc.text.strip()
        for key in TRIMMED_KEYS:
            doc.metadata.pop(key, None)
        return bool(doc.text) or (False, "empty")


def build_pretrain(settings: Settings, config: CleanConfig) -> LayerStats:
    deduped = settings.layout.deduped_dir
    shards = sorted(deduped.glob("*.parquet"))
    if not shards:
        raise FileNotFoundError(f"no deduped shards in {deduped}: materialize deduped_corpus first")
    work = settings.layout.work_dir("pretrain_corpus")
    shutil.rmtree(work, ignore_errors=True)
    excluded = Exclusions(work / "excluded")
    stage = Stage(
        "pretrain_corpus",
        [
            DocumentReader(str(deduped), glob_pattern="*.parquet"),
            PretrainText(exclusion_writer=excluded("pretrain")),
            DocumentWriter(str(work / "output")),
        ],
        tasks=1,  # a copy with trimmed metadata: cheaper in-process than starting worker processes
        logging_dir=work / "logs",
        workers=1,
    )
    run_stages([stage], config)
    stats = read_stage_stats(stage.name, stage.logging_dir)
    replace_directory(work / "output", settings.layout.pretrain_dir)
    replace_directory(work / "excluded", settings.layout.excluded_dir("pretrain_corpus"))
    return stats
