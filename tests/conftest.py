"""Shared fixtures. Tests read the real sample data from the data root (../shared/data by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.settings import Settings
from labeling.emotion_dataset import EmotionBuild, build_emotion_dataset
from labeling.personality import PersonalityBuild, build_personality_dataset


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(Settings.from_env().data_root)
    if not (root / "MANIFEST.tsv").exists():
        pytest.fail(
            f"sample data not found at {root}: put ../shared/data beside the repo or set ROSIE_DATA_ROOT"
        )
    return root


@pytest.fixture(autouse=True)
def api_token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real ~/.config/rosie/api_token."""
    path = tmp_path / "config" / "rosie" / "api_token"
    monkeypatch.setenv("ROSIE_API_TOKEN_FILE", str(path))
    return path


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose outputs go to a fresh temporary folder."""
    monkeypatch.setenv("ROSIE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("ROSIE_MODEL_DIR", str(tmp_path / "models" / "rosie_model"))
    return Settings.from_env()


# The full datasets from the sample, built once per session: the dataset tests and the split tests
# across the two datasets read the same builds.
@pytest.fixture(scope="session")
def emotion_build(data_root: Path) -> EmotionBuild:
    return build_emotion_dataset(str(data_root))


@pytest.fixture(scope="session")
def personality_build(data_root: Path) -> PersonalityBuild:
    return build_personality_dataset(str(data_root))


@pytest.fixture
def damaged_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root for damaged copies of the samples; outputs go beside it."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("ROSIE_DATA_ROOT", str(root))
    monkeypatch.setenv("ROSIE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return root
