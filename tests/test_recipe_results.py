"""docs/training.md's recipe tables are what benchmarks/recipe_results.json renders, and the demo
preset trains the recipe the ablation kept."""

from __future__ import annotations

import json

from benchmarks.recipe import DOC, RESULTS, doc_block, kept_recipe, render
from model.config import ModelConfig
from model.train_config import TrainConfig


def test_training_doc_tables_are_rendered_from_the_results_file() -> None:
    assert doc_block(DOC.read_text(encoding="utf-8")) == render(json.loads(RESULTS.read_text()))


def test_the_demo_preset_trains_the_kept_recipe() -> None:
    kept = kept_recipe()
    demo = TrainConfig.from_preset("demo")
    base = demo.phase("base")
    model = ModelConfig.from_preset("demo")
    assert all(getattr(model, name) == value for name, value in kept.model.items())
    assert demo.optimizer == kept.train.optimizer
    assert base.schedule == kept.phase.schedule
    assert (base.block_size or model.block_size, base.micro_batch_size) == (
        kept.phase.block_size,
        kept.phase.micro_batch_size,
    )
    assert (base.learning_rate, base.muon_learning_rate) == (
        kept.phase.learning_rate,
        kept.phase.muon_learning_rate,
    )
