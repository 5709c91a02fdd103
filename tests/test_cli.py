"""`rosie chat` and `rosie say` on a tiny untrained model."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.chat.service import ChatService
from apps.cli import main, run_chat
from labeling.emotions import EMOTIONS
from model.engine import Engine
from model.sampling import SamplingConfig
from tests.test_engine_support import tiny_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("model"), data_root)


def test_interactive_chat_streams_and_handles_commands(model_dir: Path, tmp_path: Path):
    engine = Engine.load(model_dir, sampling=SamplingConfig(max_new_tokens=8, seed=0))
    service = ChatService.open(engine, tmp_path / "h.sqlite")
    out = io.StringIO()
    lines = [
        "hello Rosie",
        "",
        "/action drag",
        "/action fly",
        "/history",
        "/reset",
        "/history",
        "/nope",
        "/quit",
        "unread",
    ]
    run_chat(service, "term", iter(lines), out)
    text = out.getvalue()
    replies = [line for line in text.splitlines() if line.startswith("Rosie [")]
    assert len(replies) == 2
    for reply in replies:
        label, probability = reply.removeprefix("Rosie [").split("]")[0].split()
        assert label in EMOTIONS and 0 < float(probability) <= 1
    assert "user: hello Rosie" in text and "user *drag*: " in text
    assert "unknown action 'fly'" in text and "unknown command '/nope'" in text
    assert "new session 1" in text
    assert len(service.history("term")) == 0 and len(service.history("term")) == len(
        service.store.turns("term")
    )
    assert len(service.store.turns("term", session=0)) == 4


def test_say_json_as_module(model_dir: Path, tmp_path: Path):
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "ROSIE_MODEL_DIR": str(model_dir),
    }
    command = [
        sys.executable,
        "-m",
        "apps",
        "say",
        "Hi there <|end|>",
        "--json",
        "--seed",
        "3",
        "--max-new-tokens",
        "6",
        "--db",
        str(tmp_path / "h.sqlite"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)
    reply = json.loads(result.stdout)
    assert reply["emotion"] in EMOTIONS and reply["text"] and reply["completion_tokens"] <= 6
    assert set(reply["probabilities"]) == set(EMOTIONS)


def test_say_action_and_missing_model(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = str(tmp_path / "h.sqlite")
    assert (
        main(["say", "--action", "pet", "--model-dir", str(model_dir), "--db", db, "--max-new-tokens", "5"])
        == 0
    )
    assert capsys.readouterr().out.startswith("Rosie [")
    with pytest.raises(SystemExit, match="lower max_new_tokens"):
        main(["say", "hi", "--model-dir", str(model_dir), "--db", db, "--max-new-tokens", "250"])
    with pytest.raises(SystemExit, match="no model at"):
        main(["say", "hi", "--model-dir", str(tmp_path / "nowhere"), "--db", db])
