"""The emotion head's lexical path: what the model reads, what the fit reads, and the fit itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from model.config import ModelConfig
from model.emotion_lexicon import fit_for_shard, labelled_turns
from model.gpt import TURN_START_IDS, RosieGPT, lexicon_ids
from model.shards import TokenShard, TokenShardWriter

TINY = ModelConfig(vocab_size=101, block_size=32, n_layer=2, n_head=2, n_embd=16, memory_every=2,
                   emotion_lexicon_buckets=7)
SYSTEM, USER, ROSIE = TURN_START_IDS[1:]
END = 2  # any token: the shard's emotion label marks where a turn is read


def test_lexicon_ids_read_each_token_and_its_pair_within_the_turn() -> None:
    idx = torch.tensor([[9, 10, USER, 11, 12, ROSIE, 13]])
    tokens, pairs = lexicon_ids(idx, 101, 7)
    assert torch.equal(tokens, idx)
    expected = [-1, 101 + (9 * 1_000_003 + 10) % 7, -1, 101 + (USER * 1_000_003 + 11) % 7,
                 101 + (11 * 1_000_003 + 12) % 7, -1, 101 + (ROSIE * 1_000_003 + 13) % 7]
    assert pairs[0].tolist() == expected  # no pair at a turn's first position or the sequence's


def test_the_head_adds_the_turns_mean_lexicon_row_to_the_states_reading() -> None:
    torch.manual_seed(0)
    model = RosieGPT(TINY).eval()
    model.emotion_lexicon.normal_()
    idx = torch.tensor([[USER, 20, 21, END, ROSIE, 30, 31, 32, END]])
    with torch.no_grad():
        plain = model.emotion_head(model.hidden_states(idx)[0, 4:].mean(dim=0))
        table = model.emotion_lexicon
        turn = idx[0, 4:].tolist()
        pairs = [101 + (a * 1_000_003 + b) % 7 for a, b in zip(turn, turn[1:], strict=False)]
        words = (table[idx[0, 4:]].sum(dim=0) + table[pairs].sum(dim=0)) / 5
        assert torch.allclose(model(idx).emotion_logits[0, -1], plain + words, atol=1e-5)
        # the user's turn before does not move Rosie's reading through the lexical path
        changed = idx.clone()
        changed[0, 1:3] = torch.tensor([50, 60])
        lexical = model.emotion_logits(torch.zeros(1, 9, 16), idx)
        assert torch.allclose(model.emotion_logits(torch.zeros(1, 9, 16), changed)[0, 4:], lexical[0, 4:])


def write_chat_shard(path, documents: list[tuple[list[int], dict[int, int]]]) -> TokenShard:
    writer = TokenShardWriter(path, TINY.vocab_size, chat=True)
    for ids, labels in documents:
        emotion = [labels.get(i, -1) for i in range(len(ids))]
        writer.add(ids, [1] * len(ids), emotion, {"source": "test"})
    writer.close()
    return TokenShard(path)


def test_the_fit_reads_each_labelled_turn_as_the_model_does(tmp_path) -> None:
    # two documents; the second starts mid-turn (no role token) and holds two labelled turns
    shard = write_chat_shard(tmp_path / "train", [
        ([SYSTEM, 40, END, USER, 41, 42, END, ROSIE, 43, END], {6: 3, 9: 1}),
        ([44, 45, END, ROSIE, 46, END], {2: 0, 5: 2}),
    ])
    turns = labelled_turns(shard, TINY.vocab_size, TINY.emotion_lexicon_buckets)
    assert turns.labels.tolist() == [3, 1, 0, 2]
    torch.manual_seed(1)
    model = RosieGPT(TINY).eval()
    model.emotion_lexicon.normal_()
    with torch.no_grad():
        model.emotion_head.weight.zero_()
        model.emotion_head.bias.zero_()
        fitted = F.embedding_bag(turns.rows, model.emotion_lexicon, turns.offsets, mode="sum",
                                 per_sample_weights=turns.weights)
        read = []
        for start, end in zip(shard.offsets[:-1], shard.offsets[1:], strict=True):
            idx = torch.from_numpy(np.asarray(shard.tokens[start:end], dtype=np.int64))[None]
            logits = model(idx).emotion_logits[0]
            read += [logits[i] for i in np.flatnonzero(np.asarray(shard.emotion[start:end]) >= 0)]
    assert torch.allclose(fitted, torch.stack(read), atol=1e-5)


def test_the_fit_learns_word_labels_deterministically(tmp_path) -> None:
    rng = np.random.default_rng(0)
    documents = []
    for _ in range(200):  # label 0 turns say 60/61, label 1 turns 70/71, around shared filler words
        label = int(rng.integers(2))
        words = [int(w) for w in rng.integers(80, 100, size=4)] + [60 + 10 * label + int(rng.integers(2))]
        documents.append(([USER, *rng.permutation(words).tolist(), END], {6: label}))
    shard = write_chat_shard(tmp_path / "train", documents)
    config = dataclasses.replace(TINY, n_emotions=2)
    table, figures = fit_for_shard(shard, config.vocab_size, config.emotion_lexicon_buckets, 2)
    again, _ = fit_for_shard(shard, config.vocab_size, config.emotion_lexicon_buckets, 2)
    assert torch.equal(table, again)
    assert figures["turns"] == 200
    model = RosieGPT(config).eval()
    with torch.no_grad():
        model.emotion_head.weight.zero_()
        model.emotion_lexicon.copy_(table)
        for label, word in [(0, 60), (0, 61), (1, 70), (1, 71)]:
            idx = torch.tensor([[USER, 85, word, 90, END]])
            assert int(model(idx).emotion_logits[0, -1].argmax()) == label
