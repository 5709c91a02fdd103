"""The jobs: the data refresh, one per training phase, and ``rosie_main`` for the whole graph.

- ``data_refresh``: every asset of the ``ingest``, ``clean``, ``dedup`` and ``datasets`` groups,
  unpartitioned. Launched without a partition, the raw assets register any new file as a
  partition and ingest every file, so one command refreshes everything.
- ``ingest_files``: the raw assets for one partition (one source file); the sensor's target.
- ``phase1`` / ``phase2`` / ``phase3``: ``dagster job launch -j phase2`` re-tokenizes the
  personality data and trains phase 2 from the current ``base.pth``.
- ``rosie_main`` (what ``make demo`` runs): every asset, raw shards to evaluation.
"""

from __future__ import annotations

import dagster as dg

from pipelines.partitions import SOURCE_FILES

DATA_GROUPS = ("ingest", "clean", "dedup", "datasets")

data_refresh = dg.define_asset_job(
    "data_refresh",
    selection=dg.AssetSelection.groups(*DATA_GROUPS),
    description="Ingest every raw file, clean, deduplicate and build the datasets.",
)
ingest_files = dg.define_asset_job(
    "ingest_files",
    selection=dg.AssetSelection.groups("ingest"),
    partitions_def=SOURCE_FILES,
    description="Ingest one raw source file (one partition of raw_web / raw_books / raw_reddit).",
)
phase1 = dg.define_asset_job(
    "phase1",
    selection=dg.AssetSelection.assets("pretrain_tokens", "base_model"),
    description="Phase 1: tokenize the pretraining corpus and train the base model (base.pth).",
)
phase2 = dg.define_asset_job(
    "phase2",
    selection=dg.AssetSelection.assets("personality_tokens", "personality_model"),
    description="Phase 2: tokenize the personality dataset and fine-tune base.pth into personality.pth.",
)
phase3 = dg.define_asset_job(
    "phase3",
    selection=dg.AssetSelection.assets("emotion_tokens", "final_model", "model_eval"),
    description="Phase 3: emotion training from personality.pth into final.pth, then evaluate it.",
)
rosie_main = dg.define_asset_job(
    "rosie_main",
    selection=dg.AssetSelection.all(),
    description="The whole graph on the configured data root and preset: data, tokenizer, 3 phases, eval.",
)
