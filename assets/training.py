"""Training group: token shards for each phase, and the three DeepSpeed phases.

- ``pretrain_tokens`` / ``personality_tokens`` / ``emotion_tokens``: memory-mapped token shards
  (``model.shards``) under ``artifacts/tokens/<name>/<split>/``.
- ``base_model`` → ``personality_model`` → ``final_model``: each launches ``model.train`` (plain
  process or the deepspeed launcher, per the training settings) through Dagster Pipes; the trainer
  streams its metrics back and reports the materialization (loss curve, perplexity, tokens/s, MFU).

Thin: tokenization lives in ``model.shard_building``, training in ``model.train``.
"""

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    PipesSubprocessClient,
    asset,
)

from foundation.atomic import publish_directory, write_parquet_atomic
from foundation.hashing import file_sha256
from foundation.quarantine import QUARANTINE_SCHEMA
from foundation.settings import PROJECT_ROOT, Settings
from model.shard_building import (
    BuildStats,
    build_chat_shards,
    emotion_example,
    personality_example,
    tokenize_corpus,
)
from model.shards import shard_content_hash
from model.tokenizer import RosieTokenizer
from model.train_config import TrainConfig
from pipelines.resources import CleaningResource, StorageResource

GROUP = "training"
DATASET_SPLITS = ("train", "validation", "test")


# --- token shards --------------------------------------------------------------------------------


def _tokenizer(settings: Settings) -> RosieTokenizer:
    return RosieTokenizer.load(settings.layout.model.tokenizer_dir)


def _shard_metadata(settings: Settings, name: str, stats: dict[str, BuildStats], sources: dict) -> dict:
    splits = {split: s.as_dict() for split, s in stats.items()}
    directory = settings.layout.tokens_dir(name)
    return {
        "path": MetadataValue.path(str(directory)),
        "splits": MetadataValue.json(splits),
        "records_in": sum(s.kept + s.filtered + s.quarantined for s in stats.values()),
        "kept": sum(s.kept for s in stats.values()),
        "filtered": sum(s.filtered for s in stats.values()),
        "quarantined": sum(s.quarantined for s in stats.values()),
        "tokens": sum(s.tokens for s in stats.values()),
        "content_sha256": MetadataValue.json(
            {split: shard_content_hash(directory / split) for split in stats}
        ),
        "input_sha256": MetadataValue.json(sources),
    }


@asset(
    group_name=GROUP,
    deps=[AssetKey("pretrain_corpus"), AssetKey("rosie_tokenizer")],
    description="Pretraining corpus as uint16/uint32 token shards (train + hash-fixed validation documents)",
)
def pretrain_tokens(
    context: AssetExecutionContext, storage: StorageResource, cleaning: CleaningResource
) -> MaterializeResult:
    settings = storage.settings
    files = sorted(settings.layout.pretrain_dir.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"no pretraining shards in {settings.layout.pretrain_dir}: materialize pretrain_corpus"
        )
    sources = {str(path): file_sha256(path) for path in files}
    train = TrainConfig.from_settings(settings)
    _tokenizer(settings)  # a missing tokenizer fails here, with its fix, not in every task
    with publish_directory(settings.layout.tokens_dir("pretrain")) as staging:  # all splits, or none
        stats = tokenize_corpus(
            files,
            settings.layout.model.tokenizer_dir,
            staging,
            settings.layout.work_dir("pretrain_tokens"),
            cleaning.config(),  # the cleaning executor: local processes, slurm or ray
            validation_fraction=train.pretrain_validation_fraction,
            sources=sources,
        )
    context.log.info(f"pretrain tokens: { {k: v.as_dict() for k, v in stats.items()} }")
    return MaterializeResult(metadata=_shard_metadata(settings, "pretrain", stats, sources))


def _chat_tokens(
    context: AssetExecutionContext, settings: Settings, dataset: str, to_example
) -> MaterializeResult:
    """Shared body of the two chat-token assets: one shard per dataset split, bad rows quarantined."""
    files = {split: settings.layout.split_path(dataset, split) for split in DATASET_SPLITS}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"dataset splits missing: {missing}: materialize {dataset}_dataset first")
    sources = {str(path): file_sha256(path) for path in files.values()}
    tokenizer = _tokenizer(settings)
    rows = {split: pq.read_table(path).to_pylist() for split, path in files.items()}
    with publish_directory(settings.layout.tokens_dir(dataset)) as staging:  # all splits, or none
        stats, quarantine = build_chat_shards(
            rows, lambda row: to_example(tokenizer, row), tokenizer, staging, sources=sources
        )
    metadata = _shard_metadata(settings, dataset, stats, sources)
    if quarantine:
        path = settings.layout.quarantine_dir("tokens") / f"{dataset}.parquet"
        write_parquet_atomic(_quarantine_table(quarantine, files, sources), path)
        metadata["quarantine_path"] = MetadataValue.path(str(path))
        reasons: dict[str, int] = {}
        for record in quarantine:
            reasons[record["reason"]] = reasons.get(record["reason"], 0) + 1
        metadata["quarantine_reasons"] = MetadataValue.json(reasons)
        context.log.warning(f"{len(quarantine)} {dataset} rows quarantined at {path}")
    return MaterializeResult(metadata=metadata)


def _quarantine_table(records: list[dict], files: dict[str, Path], sources: dict[str, str]) -> pa.Table:
    rows = [
        {
            "source": "tokens",
            "source_file": str(files[r["split"]]),
            "position": str(r["position"]),
            "reason": r["reason"],
            "detail": r["detail"],
            "raw": r["raw"].encode(),
            "input_sha256": sources[str(files[r["split"]])],
        }
        for r in records
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


@asset(
    group_name=GROUP,
    deps=[AssetKey("personality_dataset"), AssetKey("rosie_tokenizer")],
    description="Personality conversations as chat token shards: loss mask on Rosie's turns, emotion targets",
)
def personality_tokens(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    return _chat_tokens(context, storage.settings, "personality", personality_example)


@asset(
    group_name=GROUP,
    deps=[AssetKey("emotion_dataset"), AssetKey("rosie_tokenizer")],
    description="Emotion-labelled texts as the engine's conversations, head target at the labelled <|end|>",
)
def emotion_tokens(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    return _chat_tokens(context, storage.settings, "emotion", emotion_example)


# --- the three phases ---------------------------------------------------------------------------


def launcher_command(train: TrainConfig, phase: str, config_path: Path) -> list[str]:
    """The trainer's command line: a plain process, or the deepspeed launcher (hostfile: many hosts)."""
    trainer_args = ["--phase", phase, "--config", str(config_path)]
    if train.launcher == "python":
        return [sys.executable, "-m", "model.train", *trainer_args]
    if train.launcher != "deepspeed":
        raise ValueError(f"launcher {train.launcher!r}: expected 'python' or 'deepspeed'")
    hosts = ["--hostfile", train.hostfile] if train.hostfile else []
    return [
        sys.executable, "-m", "deepspeed.launcher.runner", *hosts,
        "--num_gpus", str(train.num_processes), "--master_port", str(train.master_port),
        "--module", "model.train", *trainer_args,
    ]  # fmt: skip


def trainer_env(settings: Settings) -> dict[str, str]:
    """The subprocess sees the same folders and preset as the asset (and imports from the repo)."""
    python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {
        "PYTHONPATH": python_path,
        "ROSIE_DATA_ROOT": settings.data_root,
        "ROSIE_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "ROSIE_MODEL_DIR": str(settings.model_dir),
        "ROSIE_PRESET": settings.preset,
    }


def upstream_lineage(context: AssetExecutionContext) -> dict:
    """This run's id, and the run that last materialized each asset upstream of this one."""
    graph = context.job_def.asset_layer.asset_graph
    pending, seen = list(graph.get(context.asset_key).parent_keys), set()
    while pending:
        key = pending.pop()
        if key not in seen and graph.has(key):
            seen.add(key)
            pending.extend(graph.get(key).parent_keys)
    runs = {}
    for key in sorted(seen):
        event = context.instance.get_latest_materialization_event(key)
        if event is not None:
            runs[key.to_user_string()] = event.run_id
    return {"dagster_run_id": context.run_id, "upstream_run_ids": runs}


def launch_phase(
    context: AssetExecutionContext, storage: StorageResource, client: PipesSubprocessClient, phase: str
) -> MaterializeResult:
    settings = storage.settings
    train = TrainConfig.from_settings(settings)
    config_path = settings.layout.model.train_config_path(phase)
    train.save_json(config_path)
    command = launcher_command(train, phase, config_path)
    context.log.info(f"launching phase {phase}: {' '.join(command)}")
    invocation = client.run(
        command=command,
        context=context,
        extras={"lineage": upstream_lineage(context)},
        env=trainer_env(settings),
        cwd=str(PROJECT_ROOT),
    )
    result = invocation.get_materialize_result()
    metadata = {**result.metadata, "train_config": MetadataValue.json(json.loads(config_path.read_text()))}
    return MaterializeResult(metadata=metadata, data_version=result.data_version)


def _phase_asset(name: str, phase: str, deps: list[str], description: str) -> AssetsDefinition:
    @asset(name=name, group_name=GROUP, deps=[AssetKey(d) for d in deps], description=description)
    def phase_asset(
        context: AssetExecutionContext, storage: StorageResource, training_launcher: PipesSubprocessClient
    ) -> MaterializeResult:
        return launch_phase(context, storage, training_launcher, phase)

    return phase_asset


base_model = _phase_asset(
    "base_model",
    "base",
    ["pretrain_tokens", "rosie_tokenizer"],
    "Phase 1: base language model, models/rosie_model/weights/base.pth",
)
personality_model = _phase_asset(
    "personality_model",
    "personality",
    ["base_model", "personality_tokens"],
    "Phase 2: Rosie's voice, from base.pth, weights/personality.pth",
)
final_model = _phase_asset(
    "final_model",
    "emotion",
    ["personality_model", "emotion_tokens", "personality_tokens"],
    "Phase 3: LM + emotion head, from personality.pth, weights/final.pth",
)
