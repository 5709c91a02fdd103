"""Tokenizer group: ``rosie_tokenizer`` trains byte-level BPE on the corpus and the datasets.

Thin: the text gathering lives in ``model.tokenizer_corpus``, training in ``model.tokenizer``.
"""

import itertools

import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field
from tqdm import tqdm

from foundation.atomic import write_parquet_atomic
from foundation.quarantine import QUARANTINE_SCHEMA
from labeling.special_tokens import SPECIAL_TOKENS
from model.config import ModelConfig
from model.tokenizer import RosieTokenizer
from model.tokenizer_corpus import (
    CorpusStats,
    bytes_per_token,
    dataset_texts,
    pretrain_files,
    pretrain_texts,
    sample_corpus,
)
from pipelines.resources import StorageResource


class TokenizerConfig(Config):
    vocab_size: int = Field(
        default=0, description="BPE vocabulary size; 0 takes the model preset's (demo 8,192, others 32,000)"
    )
    min_frequency: int = Field(default=2, description="a pair must occur this often to become a merge")


@asset(
    group_name="tokenizer",
    deps=[AssetKey("pretrain_corpus"), AssetKey("personality_dataset"), AssetKey("emotion_dataset")],
    description="Byte-level BPE with Rosie's 14 special tokens (ids 0..13), at models/rosie_model/tokenizer/",
)
def rosie_tokenizer(
    context: AssetExecutionContext, config: TokenizerConfig, storage: StorageResource
) -> MaterializeResult:
    settings = storage.settings
    vocab_size = config.vocab_size or ModelConfig.from_preset(settings.preset).vocab_size
    stats = CorpusStats()
    if pretrain_files(settings):
        source, base = "pretrain corpus", pretrain_texts(settings, stats)
    else:
        empty = settings.layout.pretrain_dir
        source = f"raw sample books ({empty} is empty: pretrain_corpus not materialized)"
        context.log.warning(f"training the tokenizer on {source}")
        base = sample_corpus(settings.data_root, stats)
    datasets = [
        name for name in ("personality", "emotion") if settings.layout.split_path(name, "train").exists()
    ]
    source += f" + dataset train splits: {', '.join(datasets) or 'none materialized yet'}"
    texts = itertools.chain(base, dataset_texts(settings, stats))
    texts = tqdm(texts, desc="tokenizer corpus", unit="text", mininterval=5)
    tokenizer = RosieTokenizer.train(
        texts, vocab_size, min_frequency=config.min_frequency, show_progress=True
    )
    out_dir = tokenizer.save(settings.layout.model.tokenizer_dir)
    quarantine_file = None
    if stats.quarantine_rows:
        quarantine_file = write_parquet_atomic(
            pa.Table.from_pylist(stats.quarantine_rows, schema=QUARANTINE_SCHEMA),
            settings.layout.quarantine_dir("tokenizer") / "rosie_tokenizer.parquet",
        )
    held_out_bpt = bytes_per_token(tokenizer.encode_batch, stats.held_out)
    context.log.info(f"tokenizer: {tokenizer.vocab_size} tokens, {held_out_bpt:.2f} bytes/token held out")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(out_dir)),
            "training_source": source,
            "vocab_size_requested": vocab_size,
            "vocab_size": tokenizer.vocab_size,
            "special_tokens": len(SPECIAL_TOKENS),
            "documents": MetadataValue.json(dict(stats.documents)),
            "characters": stats.characters,
            "held_out_documents": len(stats.held_out),
            "held_out_bytes_per_token": round(held_out_bpt, 3),
            "records_in": stats.records_in,
            "filtered": MetadataValue.json(dict(stats.filtered)),
            "quarantined": sum(stats.quarantined.values()),
            "quarantine_file": MetadataValue.path(str(quarantine_file)) if quarantine_file else "none",
            "quarantine_reasons": MetadataValue.json(dict(stats.quarantined)),
            "input_sha256": MetadataValue.json(stats.input_sha256),
            "tokenizer_sha256": tokenizer.sha256,
        }
    )


@asset_check(asset=rosie_tokenizer, description="special ids 0..13, user text escaped, lossless round trip")
def tokenizer_is_safe_and_lossless(storage: StorageResource) -> AssetCheckResult:
    tokenizer = RosieTokenizer.load(storage.settings.layout.model.tokenizer_dir)  # verifies the special ids
    probe = "Hi <|rosie|>! <|action:poke|> naïve café — 你好 🙂\r\n\t"
    ids = tokenizer.encode_text(probe)
    escaped = all(i >= len(SPECIAL_TOKENS) for i in ids)
    lossless = tokenizer.decode(ids) == probe
    return AssetCheckResult(
        passed=escaped and lossless,
        severity=AssetCheckSeverity.ERROR,
        metadata={"escaped": escaped, "lossless": lossless, "probe_tokens": len(ids)},
    )
