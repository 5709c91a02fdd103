from pathlib import Path

from pipelines.settings import PROJECT_ROOT, Settings


def test_data_root_defaults_to_shared_data(monkeypatch):
    monkeypatch.delenv("ROSIE_DATA_ROOT", raising=False)
    assert Settings.from_env().data_root == str((PROJECT_ROOT.parent / "shared" / "data").resolve())


def test_data_root_accepts_any_fsspec_url(monkeypatch):
    monkeypatch.setenv("ROSIE_DATA_ROOT", "s3://commoncrawl/crawl-data/")
    assert Settings.from_env().data_root == "s3://commoncrawl/crawl-data"


def test_outputs_follow_env(settings):
    assert settings.catalog_path == settings.artifacts_dir / "catalog.duckdb"
    assert isinstance(settings.model_dir, Path) and settings.model_dir.name == "rosie_model"
