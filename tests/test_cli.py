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
    replies = [line for line in text.splitlines() if line.startswith("Rosie: ")]
    assert len(replies) == 2
    for reply in replies:
        mine, yours = reply.rsplit("  [rosie: ", 1)[1].removesuffix("]").split(" | you: ")
        for reading in (mine, yours):
            label, probability = reading.split()
            assert label in EMOTIONS and 0 < float(probability) <= 1
    assert "user [" in text and "hello Rosie" in text and "*drag*: " in text
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
        "--conversation",
        "tea",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)
    reply = json.loads(result.stdout)
    assert reply["emotion"] in EMOTIONS and reply["text"] and reply["completion_tokens"] <= 6
    assert set(reply["probabilities"]) == set(EMOTIONS)
    assert reply["user_emotion"]["label"] in EMOTIONS and reply["conversation_id"] == "tea"


def test_say_is_one_shot_unless_a_conversation_is_named(model_dir: Path, tmp_path: Path, capsys):
    db = tmp_path / "h.sqlite"
    common = ["--model-dir", str(model_dir), "--db", str(db), "--max-new-tokens", "5", "--seed", "1"]
    first = [json.loads(_say(capsys, ["say", "hi there", "--json", *common])) for _ in range(2)]
    same = ("text", "emotion", "user_emotion", "prompt_tokens")
    assert [first[0][k] for k in same] == [first[1][k] for k in same], "each call starts afresh"
    assert first[0]["conversation_id"] is None
    assert not db.exists(), "a one-shot reply keeps no history"
    continued = ["say", "hi there", "--json", *common, "--conversation", "c"]
    named = [json.loads(_say(capsys, continued)) for _ in range(2)]
    assert named[1]["prompt_tokens"] > named[0]["prompt_tokens"] == first[0]["prompt_tokens"]  # continued
    assert named[0]["conversation_id"] == "c" and db.exists()


def _say(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_say_action_and_missing_model(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = str(tmp_path / "h.sqlite")
    assert (
        main(["say", "--action", "pet", "--model-dir", str(model_dir), "--db", db, "--max-new-tokens", "5"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("Rosie [") and "] (you: " in out
    with pytest.raises(SystemExit, match="lower max_new_tokens"):
        main(["say", "hi", "--model-dir", str(model_dir), "--db", db, "--max-new-tokens", "250"])
    with pytest.raises(SystemExit, match="no model at"):
        main(["say", "hi", "--model-dir", str(tmp_path / "nowhere"), "--db", db])
