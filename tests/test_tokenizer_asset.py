"""The rosie_tokenizer asset: real Dagster materializations, on the sample fallback and on real layouts."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetKey, materialize

from assets.tokenizer import rosie_tokenizer, tokenizer_is_safe_and_lossless
from dedup.schema import DOCUMENT_SCHEMA
from foundation.atomic import write_parquet_atomic
from foundation.hashing import text_hash
from foundation.settings import Settings
from model.tokenizer import RosieTokenizer
from pipelines.resources import StorageResource


def _materialize(settings: Settings, vocab_size: int):
    storage = StorageResource(data_root=settings.data_root, artifacts_dir=str(settings.artifacts_dir),
                              model_dir=str(settings.model_dir))
    return materialize(
        [rosie_tokenizer, tokenizer_is_safe_and_lossless],
        resources={"storage": storage},
        run_config={"ops": {"rosie_tokenizer": {"config": {"vocab_size": vocab_size}}}},
    )


def _metadata(result) -> dict:
    [event] = result.asset_materializations_for_node("rosie_tokenizer")
    return {k: v.value for k, v in event.metadata.items()}


def test_asset_falls_back_to_sample_books_before_the_corpus_exists(settings: Settings) -> None:
    result = _materialize(settings, vocab_size=600)
    assert result.success
    meta = _metadata(result)
    assert meta["training_source"].startswith("raw sample books")
    assert meta["training_source"].endswith("dataset train splits: none materialized yet")
    assert meta["vocab_size"] == 600 and meta["documents"]["sample_books"] > 1000
    assert meta["records_in"] == meta["documents"]["sample_books"] and meta["quarantined"] == 0
    assert 1.8 < meta["held_out_bytes_per_token"] < 5.0  # 600 tokens: ~2.2
    assert all(check.passed for check in result.get_asset_check_evaluations())
    assert RosieTokenizer.load(settings.layout.model.tokenizer_dir).vocab_size == 600


def test_asset_trains_on_corpus_and_dataset_train_splits(settings: Settings) -> None:
    texts = [f"Document {i}: Rosie likes tea, biscuits and long walks number {i}." for i in range(300)]
    rows = [{"id": f"web/x#{i}", "source": "web", "source_file": "x", "url": None, "title": None, "text": t,
             "created": None, "metadata": None, "content_hash": text_hash(t), "input_sha256": "0" * 64}
            for i, t in enumerate(texts)]
    write_parquet_atomic(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA),
                         settings.layout.pretrain_dir / "part-0.parquet")
    good = json.dumps([{"role": "user", "text": "hello", "emotion": None, "action": None},
                       {"role": "rosie", "text": "hi there!", "emotion": "happy", "action": None}])
    turns = [good, good, "{not json", None]
    write_parquet_atomic(pa.table({"conversation_id": list("abcd"), "turns": turns, "split": ["train"] * 4}),
                         settings.layout.dataset_dir("personality") / "train.parquet")
    emotions = {"text": ["I am so happy today", "this is scary"], "label": ["happy", "scared"]}
    write_parquet_atomic(pa.table(emotions),
                         settings.layout.dataset_dir("emotion") / "train.parquet")
    result = _materialize(settings, vocab_size=400)
    meta = _metadata(result)
    assert meta["training_source"] == "pretrain corpus + dataset train splits: personality, emotion"
    assert meta["documents"] == {"pretrain": 300, "personality": 4, "emotion": 2}
    assert meta["quarantined"] == 1 and meta["filtered"] == {"personality: empty turns": 1}
    assert meta["records_in"] == 300 + 4 + 2  # rows; the 2 good conversations give 4 turn texts
    [bad] = pq.read_table(meta["quarantine_file"]).to_pylist()
    assert bad["position"] == "2" and bad["raw"] == b"{not json" and bad["reason"].startswith("personality")
    assert len(meta["input_sha256"]) == 3


def test_definitions_wire_the_tokenizer_after_its_inputs() -> None:
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = graph.get(AssetKey("rosie_tokenizer")).parent_keys
    assert parents == {AssetKey(k) for k in ("pretrain_corpus", "personality_dataset", "emotion_dataset")}
