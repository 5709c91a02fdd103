"""Training jobs: one per phase, and ``rosie_main`` for the whole graph (raw shards to evaluation).

``dagster job launch -j phase2`` re-tokenizes the personality data and trains phase 2 from the
current ``base.pth``; ``rosie_main`` (what ``make demo`` runs) materializes every asset in order.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

phase1 = define_asset_job(
    "phase1",
    selection=AssetSelection.assets("pretrain_tokens", "base_model"),
    description="Phase 1: tokenize the pretraining corpus and train the base model (base.pth).",
)
phase2 = define_asset_job(
    "phase2",
    selection=AssetSelection.assets("personality_tokens", "personality_model"),
    description="Phase 2: tokenize the personality dataset and fine-tune base.pth into personality.pth.",
)
phase3 = define_asset_job(
    "phase3",
    selection=AssetSelection.assets("emotion_tokens", "final_model", "model_eval"),
    description="Phase 3: emotion training from personality.pth into final.pth, then evaluate it.",
)
rosie_main = define_asset_job(
    "rosie_main",
    selection=AssetSelection.all(),
    description="The whole graph on the configured data root and preset: data, tokenizer, 3 phases, eval.",
)

JOBS = [phase1, phase2, phase3, rosie_main]
