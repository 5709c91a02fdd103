"""Rosie's byte-level BPE tokenizer (HF ``tokenizers``), with the project's special tokens at ids 0..13.

Two guarantees the rest of the system relies on:

- user text never becomes a special token: ``encode_text`` knows no special tokens, so a typed
  ``<|rosie|>`` is split into ordinary byte-level pieces like any other text;
- byte-level BPE without a normalizer is lossless: ``decode(encode_text(s)) == s`` for any Unicode.

Encoding runs on tiktoken, built from the same vocabulary and merges (ids identical to the HF
backend's, checked on the whole sample by the tests; several times faster); training, decoding and
the saved files stay with HF ``tokenizers``.

The saved folder (``tokenizer.json``, ``special_tokens_map.json``, ``tokenizer_config.json``) loads
with ``tokenizers.Tokenizer.from_file`` and transformers' ``PreTrainedTokenizerFast``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tiktoken
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from foundation.atomic import publish_directory
from labeling.chat_format import Turn, render
from labeling.emotions import EMOTION_TO_ID
from labeling.special_tokens import END_OF_TEXT, PAD, SPECIAL_TOKENS

DEFAULT_VOCAB_SIZE = 32_000
TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

# The split HF's ByteLevel pre-tokenizer applies (use_regex=True), in tiktoken's syntax.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@dataclass
class EncodedChat:
    """Token ids of a rendered conversation with per-token training targets.

    ``loss_mask[i]`` is 1 where token i is a trained LM target (Rosie's words and ``<|end|>``);
    ``emotion_targets[i]`` is the emotion id at each labelled turn's ``<|end|>`` (the end of the text
    it labels, where the engine reads the head) and -1 everywhere else.
    """

    ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    emotion_targets: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, ids: Sequence[int], *, trained: bool, emotion_target: int = -1) -> None:
        self.ids.extend(ids)
        self.loss_mask.extend([int(trained)] * len(ids))
        self.emotion_targets.extend([emotion_target] + [-1] * (len(ids) - 1) if ids else [])


class RosieTokenizer:
    def __init__(self, tokenizer: Tokenizer) -> None:
        _check_special_ids(tokenizer)
        self._tokenizer = tokenizer
        self._encoding = tiktoken_encoding(tokenizer)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE, *,
              min_frequency: int = 2, show_progress: bool = False) -> RosieTokenizer:
        """Train byte-level BPE on ``texts``; the vocabulary may come out smaller on tiny corpora."""
        floor = len(SPECIAL_TOKENS) + len(pre_tokenizers.ByteLevel.alphabet())
        if vocab_size <= floor:
            raise ValueError(f"vocab_size={vocab_size} must exceed {floor} (special tokens + 256 bytes)")
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),  # first, so they take ids 0..N-1 in order
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable
            show_progress=show_progress,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    # -- files ------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write the three files into ``directory``, published together (``publish_directory``)."""
        directory = Path(directory)
        extra = [t for t in SPECIAL_TOKENS if t not in (END_OF_TEXT, PAD)]
        special_map = {"eos_token": END_OF_TEXT, "pad_token": PAD, "additional_special_tokens": extra}
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": None,
                  "clean_up_tokenization_spaces": False, **special_map}
        with publish_directory(directory) as staging:
            (staging / TOKENIZER_FILE).write_text(self._tokenizer.to_str(), encoding="utf-8")
            (staging / SPECIAL_TOKENS_MAP_FILE).write_text(json.dumps(special_map, indent=2) + "\n")
            (staging / TOKENIZER_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> RosieTokenizer:
        path = Path(directory) / TOKENIZER_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: materialize the rosie_tokenizer asset first")
        return cls(Tokenizer.from_file(str(path)))

    # -- encoding ---------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def sha256(self) -> str:
        """Content hash of the serialized tokenizer (for lineage manifests)."""
        return hashlib.sha256(self._tokenizer.to_str().encode("utf-8")).hexdigest()

    @property
    def backend(self) -> Tokenizer:
        """The underlying ``tokenizers.Tokenizer`` (special tokens recognised in text)."""
        return self._tokenizer

    def token_id(self, special: str) -> int:
        if special not in SPECIAL_TOKENS:
            raise ValueError(f"{special!r} is not a special token; expected one of {SPECIAL_TOKENS}")
        return SPECIAL_TOKENS.index(special)

    def encode_text(self, text: str) -> list[int]:
        """Ordinary text to ids; never yields a special id, even for text spelling ``<|rosie|>``
        (tiktoken's ordinary encoding knows no special tokens)."""
        return self._encoding.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str], num_threads: int = 1) -> list[list[int]]:
        """``encode_text`` for many texts in one call; one thread by default, since corpus-scale
        work is spread over processes (one per core) by the executor."""
        return self._encoding.encode_ordinary_batch(list(texts), num_threads=num_threads)

    def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special)

    def encode_chat(self, turns: Sequence[Turn | Mapping], add_generation_prompt: bool = False, *,
                    end_of_text: bool = True) -> EncodedChat:
        """Render turns with the shared chat template and encode them with per-token targets.

        ``turns`` may be ``Turn`` objects or dicts with the same keys (the datasets' JSON form).
        """
        turns = [t if isinstance(t, Turn) else Turn(**t) for t in turns]
        segments = render(turns, add_generation_prompt=add_generation_prompt, end_of_text=end_of_text)
        encoded = EncodedChat()
        for segment in segments:
            if not segment.special:
                encoded.extend(self.encode_text(segment.text), trained=segment.trained)
                continue
            target = EMOTION_TO_ID[segment.emotion] if segment.emotion is not None else -1
            encoded.extend([self.token_id(segment.text)], trained=segment.trained, emotion_target=target)
        return encoded


def _byte_of_symbol() -> dict[str, int]:
    """Byte-level BPE spells each byte as one printable character (GPT-2's table): printable
    Latin-1 bytes stand for themselves, the other 68 take code points 256, 257, ... in byte order."""
    printable = {*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    table, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            table[chr(byte)] = byte
        else:
            table[chr(256 + shifted)] = byte
            shifted += 1
    return table


def tiktoken_encoding(tokenizer: Tokenizer) -> tiktoken.Encoding:
    """The same byte-level BPE as a tiktoken encoding: rank = token id, so merge order is kept
    (the trainer assigns ids in merge order); special tokens are left out, so never produced."""
    spec = json.loads(tokenizer.to_str())
    pre = spec.get("pre_tokenizer") or {}
    if (
        spec["model"]["type"] != "BPE"
        or spec.get("normalizer")
        or pre.get("type") != "ByteLevel"
        or pre.get("add_prefix_space")
        or not pre.get("use_regex", True)
    ):
        raise ValueError("RosieTokenizer encodes plain byte-level BPE (GPT-2 split, no normalizer) only")
    byte_of = _byte_of_symbol()
    ranks = {
        bytes(byte_of[symbol] for symbol in token): token_id
        for token, token_id in spec["model"]["vocab"].items()
        if token_id >= len(SPECIAL_TOKENS)
    }
    return tiktoken.Encoding("rosie", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens={})


def _check_special_ids(tokenizer: Tokenizer) -> None:
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        found = tokenizer.token_to_id(token)
        if found != expected_id:
            raise ValueError(
                f"special token {token!r} has id {found}, expected {expected_id}: the tokenizer was "
                "trained with another special-token set; retrain it (materialize rosie_tokenizer)"
            )
