"""Real Dagster materializations of the dataset assets and their checks."""

from __future__ import annotations

import json

from dagster import materialize

from assets import datasets as dataset_assets
from labeling.datasets import baseline_path, evaluation_texts
from pipelines.resources import StorageResource


def storage_for(settings) -> StorageResource:
    return StorageResource(
        data_root=settings.data_root,
        artifacts_dir=str(settings.artifacts_dir),
        model_dir=str(settings.model_dir),
    )


def test_emotion_dataset_asset_and_checks(settings):
    result = materialize(
        [dataset_assets.emotion_dataset, *dataset_assets.EMOTION_CHECKS],
        resources={"storage": storage_for(settings)},
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {
        "emotion_label_distribution",
        "emotion_no_split_leakage",
        "emotion_minimum_size",
    }
    assert all(c.passed for c in checks)
    metadata = result.asset_materializations_for_node("emotion_dataset")[0].metadata
    assert "# Rosie emotion dataset" in metadata["dataset_card"].value
    assert metadata["records_accounted"].value is True
    assert evaluation_texts(settings)
    assert not baseline_path(settings).exists()
    json.dumps(metadata["class_balance"].value)
