"""Token shards: memmapped round trip, dtype choice, chat targets, deterministic sampling, quarantine."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from foundation.settings import CleanConfig, Settings
from labeling.emotions import EMOTION_TO_ID
from labeling.special_tokens import END_OF_TURN, role_token
from model.batches import MixtureSampler, ShardSampler, evaluation_batches, rank_positions
from model.shard_building import (
    build_chat_shards,
    build_text_shards,
    emotion_example,
    parquet_documents,
    personality_example,
    tokenize_corpus,
)
from model.shards import (
    IGNORE_INDEX,
    NO_EMOTION,
    TokenShard,
    TokenShardWriter,
    shard_content_hash,
    token_dtype,
)
from tests.test_train_support import prepare, pretrain_documents


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, data_root):
    """Tokenizer + all three shards from the sample data (built once for this module)."""
    root = tmp_path_factory.mktemp("shards")
    settings = Settings.from_env(
        data_root=str(data_root), artifacts_dir=root / "artifacts", model_dir=root / "model", preset="demo"
    )
    return settings, prepare(settings, data_root)


def test_dtype_follows_vocabulary_size():
    assert token_dtype(8192) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


@pytest.mark.parametrize("vocab_size", [300, 100_000])
def test_round_trip_keeps_documents_and_dtype(tmp_path, vocab_size):
    writer = TokenShardWriter(tmp_path / "shard", vocab_size, chat=False)
    documents = [[1, 2, 3], [vocab_size - 1, 7], [5]]
    for doc in documents:
        writer.add(doc)
    meta = writer.close(split="train")
    shard = TokenShard(tmp_path / "shard")
    assert shard.tokens.dtype == token_dtype(vocab_size)
    assert meta["n_documents"] == shard.n_documents == 3
    assert [shard.tokens[shard.offsets[i] : shard.offsets[i + 1]].tolist() for i in range(3)] == documents
    assert len(shard_content_hash(tmp_path / "shard")) == 64
    assert not list(tmp_path.glob(".shard.tmp-*")), "the temporary folder is renamed into place"


def test_out_of_range_id_is_refused(tmp_path):
    writer = TokenShardWriter(tmp_path / "shard", 10, chat=False)
    with pytest.raises(ValueError, match="out of range"):
        writer.add([3, 10])
    writer.abort()
    assert not (tmp_path / "shard").exists()


def test_text_sampling_is_a_pure_function_of_seed_and_position(prepared):
    settings, tokenizer = prepared
    shard = TokenShard(settings.layout.tokens_dir("pretrain") / "train")
    pad = tokenizer.token_id("<|pad|>")
    a, b = ShardSampler(shard, 32, seed=7, pad_id=pad), ShardSampler(shard, 32, seed=7, pad_id=pad)
    first, again = a.batch([0, 1, 2, 3]), b.batch([0, 1, 2, 3])
    assert first.idx.equal(again.idx) and first.targets.equal(again.targets)
    assert not first.idx.equal(a.batch([4, 5, 6, 7]).idx)
    assert not first.idx.equal(ShardSampler(shard, 32, seed=8, pad_id=pad).batch([0, 1, 2, 3]).idx)
    # next-token targets: every target is the following input token
    assert first.idx[:, 1:].equal(first.targets[:, :-1])
    assert (first.emotion == NO_EMOTION).all()


def test_rank_positions_partition_the_sample_stream():
    world, per_rank = 3, 4
    seen = [
        p for step in range(5) for rank in range(world) for p in rank_positions(step, per_rank, rank, world)
    ]
    assert sorted(seen) == list(range(5 * world * per_rank))


def test_chat_windows_start_at_conversations_and_train_only_rosie(prepared):
    settings, tokenizer = prepared
    shard = TokenShard(settings.layout.tokens_dir("personality") / "train")
    block = int(np.diff(shard.offsets).max())  # every conversation fits: windows start at one
    sampler = ShardSampler(shard, block, seed=1, pad_id=tokenizer.token_id("<|pad|>"))
    batch = sampler.batch(range(16))
    starts = set(shard.offsets[:-1].tolist())
    for row in range(16):
        window = batch.idx[row].tolist()
        matches = [s for s in starts if shard.tokens[s : s + 8].tolist() == window[:8]]
        assert matches, "a chat window starts at a conversation's first token"
    rosie = tokenizer.token_id(role_token("rosie"))
    trained_inputs = batch.targets != IGNORE_INDEX
    # the token after <|rosie|> (her first word) is always a target; <|rosie|> itself never is
    assert trained_inputs[batch.idx == rosie].all()
    following_rosie = (batch.idx[:, :-1] == rosie).nonzero()
    assert not (batch.targets[following_rosie[:, 0], following_rosie[:, 1] + 1] == rosie).any()


def test_emotion_with_context_is_rosies_reply_labelled_at_its_end(prepared):
    _, tokenizer = prepared
    row = {
        "text": "I can't believe it, this is wonderful!",
        "label": "happy",
        "label_source": "gold",
        "source": "t",
        "context": "Guess what, I passed the exam.",
        "example_id": "abc",
    }
    example = emotion_example(tokenizer, row)
    ids, end = example.ids, tokenizer.token_id(END_OF_TURN)
    assert ids[0] == tokenizer.token_id(role_token("system")), "the engine's system turn comes first"
    rosie_at = ids.index(tokenizer.token_id(role_token("rosie")))
    reply_end = len(ids) - 2  # ... <|rosie|> words <|end|> <|endoftext|>
    assert ids[reply_end] == end and tokenizer.decode(ids[rosie_at + 1 : reply_end]) == row["text"]
    assert [i for i, e in enumerate(example.emotion_targets) if e >= 0] == [reply_end]
    assert example.emotion_targets[reply_end] == EMOTION_TO_ID["happy"]
    # her words and <|end|> are LM targets, as in any conversation; nothing before them is
    assert [i for i, m in enumerate(example.loss_mask) if m] == list(range(rosie_at + 1, reply_end + 1))
    assert example.document["has_context"] and example.document["example_id"] == "abc"


def test_emotion_without_context_is_a_users_message_labelled_at_its_end(prepared):
    _, tokenizer = prepared
    example = emotion_example(tokenizer, {"text": "This is so scary.", "label": "scared", "context": None})
    ids, end = example.ids, tokenizer.token_id(END_OF_TURN)
    user_at = ids.index(tokenizer.token_id(role_token("user")))
    assert tokenizer.decode(ids[user_at + 1 : -2]) == "This is so scary." and ids[-2] == end
    assert [i for i, e in enumerate(example.emotion_targets) if e >= 0] == [len(ids) - 2]
    assert example.emotion_targets[-2] == EMOTION_TO_ID["scared"]
    assert not any(example.loss_mask), "a user's words are read, never LM targets"


def test_bad_rows_are_quarantined_and_counted(prepared, tmp_path):
    _, tokenizer = prepared
    good = {
        "conversation_id": "a",
        "turns": json.dumps(
            [{"role": "user", "text": "hi"}, {"role": "rosie", "text": "hey!", "emotion": "happy"}]
        ),
    }
    no_rosie = {"conversation_id": "b", "turns": json.dumps([{"role": "user", "text": "hello?"}])}
    bad_emotion = {
        "conversation_id": "c",
        "turns": json.dumps([{"role": "rosie", "text": "x", "emotion": "meh"}]),
    }
    broken_json = {"conversation_id": "d", "turns": "[{"}
    stats, quarantine = build_chat_shards(
        {"train": [good, no_rosie, bad_emotion, broken_json]},
        lambda row: personality_example(tokenizer, row),
        tokenizer,
        tmp_path / "tokens",
    )
    assert stats["train"].as_dict()["kept"] == 1
    assert (stats["train"].filtered, stats["train"].quarantined) == (1, 2)
    assert sorted(q["position"] for q in quarantine) == [2, 3]
    assert all(q["reason"] and q["raw"] for q in quarantine)
    assert TokenShard(tmp_path / "tokens" / "train").n_documents == 1


def test_mixture_draws_from_both_sources_deterministically(prepared):
    settings, tokenizer = prepared
    pad = tokenizer.token_id("<|pad|>")
    emotion = ShardSampler(TokenShard(settings.layout.tokens_dir("emotion") / "train"), 64, 1, pad)
    voice = ShardSampler(TokenShard(settings.layout.tokens_dir("personality") / "train"), 64, 2, pad)
    mix = MixtureSampler([emotion, voice], [0.5, 0.5], seed=3)
    batch = mix.batch(range(40))
    assert batch.idx.equal(mix.batch(range(40)).idx)
    labelled = (batch.emotion >= 0).sum(dim=1)
    assert (labelled == 1).any() and (labelled > 1).any(), "single-label emotion rows and multi-turn chats"


def test_evaluation_batches_cover_each_document_once(prepared):
    settings, tokenizer = prepared
    shard = TokenShard(settings.layout.tokens_dir("emotion") / "validation")
    assert np.diff(shard.offsets).max() > 48, "some documents are longer than the window"
    batches = list(evaluation_batches(shard, 48, 8, tokenizer.token_id("<|pad|>"), keep_labels=True))
    assert sum(b.idx.shape[0] for b in batches) == shard.n_documents
    labelled = sum(int((b.emotion >= 0).sum()) for b in batches)
    assert labelled == int((shard.emotion[:] >= 0).sum()), (
        "long documents keep their end: every label is read"
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_corpus_tokenized_on_the_executor_equals_one_process(prepared, tmp_path, workers):
    """Documents split over three parquet files, one local task per file: the same shards, token for
    token, as encoding them in this process, whatever the worker count; empty texts counted."""
    settings, tokenizer = prepared
    documents = pretrain_documents(Path(settings.data_root))[:60] + [("empty", "  ")]
    files = []
    for index in range(3):
        rows = documents[index::3]
        path = tmp_path / f"corpus-{index}.parquet"
        pq.write_table(pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}), path)
        files.append(path)
    in_process = build_text_shards(
        [row for path in files for row in parquet_documents(path)],
        tokenizer,
        tmp_path / "one",
        validation_fraction=0.1,
    )
    on_executor = tokenize_corpus(
        files,
        settings.layout.model.tokenizer_dir,
        tmp_path / "executor",
        tmp_path / "work",
        CleanConfig(executor="local", workers=workers),
        validation_fraction=0.1,
    )
    assert on_executor == in_process
    assert sum(s.kept + s.filtered for s in on_executor.values()) == len(documents)
    for split in ("train", "validation"):
        assert shard_content_hash(tmp_path / "executor" / split) == shard_content_hash(
            tmp_path / "one" / split
        )
    assert not (tmp_path / "work").exists()


def test_local_workers_finish_when_the_launcher_ignores_sigterm() -> None:
    """A launcher that ignores SIGTERM (it survives exec into every worker) once left datatrove's pool
    waiting for ever on its workers at exit; the two-worker run must still finish."""
    node = "tests/test_train_shards.py::test_corpus_tokenized_on_the_executor_equals_one_process[2]"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
            preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
            cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=240, check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the two-worker run hung with SIGTERM ignored")
    assert done.returncode == 0, done.stdout[-2000:]
