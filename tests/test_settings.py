"""The typed settings: defaults, any fsspec data root, wrong values refused by their variable's name,
and docs/settings.md generated from the models."""

from pathlib import Path

import pytest

from foundation.settings import PROJECT_ROOT, CleanConfig, Settings, SettingsError, settings_table


def test_data_root_defaults_to_shared_data(monkeypatch):
    monkeypatch.delenv("ROSIE_DATA_ROOT", raising=False)
    assert Settings.from_env().data_root == str((PROJECT_ROOT.parent / "shared" / "data").resolve())


def test_data_root_accepts_any_fsspec_url(monkeypatch):
    monkeypatch.setenv("ROSIE_DATA_ROOT", "s3://commoncrawl/crawl-data/")
    assert Settings.from_env().data_root == "s3://commoncrawl/crawl-data"


def test_outputs_follow_env(settings):
    assert settings.layout.catalog_path == settings.artifacts_dir / "catalog.duckdb"
    assert isinstance(settings.model_dir, Path) and settings.model_dir.name == "rosie_model"
    assert settings.layout.model.weights_path("final") == settings.model_dir / "weights" / "final.pth"
    assert settings.history_path == settings.artifacts_dir / "conversations.sqlite"


def test_numbers_from_the_environment_are_typed(monkeypatch):
    monkeypatch.setenv("ROSIE_CLEAN_TASKS", "4")
    monkeypatch.setenv("ROSIE_CLEAN_PROFANITY_MAX_RATIO", '{"web": 0.1, "books": 0.2, "reddit": 0.3}')
    monkeypatch.setenv("ROSIE_SENSOR_MAX_RUNS", "3")
    config = CleanConfig.from_env()
    assert config.tasks == 4 and config.tasks_for(10) == 4 and config.profanity_max_ratio["books"] == 0.2
    assert Settings.from_env().sensor_max_runs == 3
    monkeypatch.setenv("ROSIE_CLEAN_TASKS", "")
    assert CleanConfig.from_env().tasks is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ROSIE_CLEAN_TASKS", "four"),
        ("ROSIE_CLEAN_EXECUTOR", "kubernetes"),
        ("ROSIE_CLEAN_PROFANITY_MAX_RATIO", '{"web": 0.1}'),
        ("ROSIE_PRESET", "7b"),
        ("ROSIE_SENSOR_INTERVAL_S", "-5"),
        ("ROSIE_REFRESH_CRON", "every day"),
        ("ROSIE_TRAIN_OVERRIDES", "/no/such/file.json"),
    ],
)
def test_a_wrong_value_is_refused_with_its_name(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    model = CleanConfig if variable.startswith("ROSIE_CLEAN_") else Settings
    with pytest.raises(SettingsError, match=variable):
        model.from_env()


def test_train_overrides_take_json_or_a_file(monkeypatch, tmp_path):
    path = tmp_path / "overrides.json"
    path.write_text('{"zero_stage": 3}')
    monkeypatch.setenv("ROSIE_TRAIN_OVERRIDES", str(path))
    assert Settings.from_env().train_overrides == {"zero_stage": 3}
    monkeypatch.setenv("ROSIE_TRAIN_OVERRIDES", '{"seed": 5}')
    assert Settings.from_env().train_overrides == {"seed": 5}


def test_docs_list_every_variable():
    docs = (PROJECT_ROOT / "docs" / "settings.md").read_text()
    assert settings_table() in docs, "regenerate docs/settings.md: python -m foundation.settings"
