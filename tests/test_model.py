"""RosieGPT: shapes, causality, KV cache, persona, emotion head, memory gate, weights round trip."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
import torch
import torch.nn.functional as F

from model.batching import StepBatcher, _Request
from model.config import PRESETS, ModelConfig, parameter_count_formula, parameter_table
from model.gpt import TURN_START_IDS, RosieGPT, balanced_class_weights, emotion_loss, turn_means
from model.tokenizer import RosieTokenizer
from model.weights import load_model, load_weights, manifest_path, read_state_dict, save_weights

TINY = ModelConfig(vocab_size=101, block_size=32, n_layer=2, n_head=2, n_embd=16, memory_every=2)


def tiny_model(seed: int = 0, **overrides: object) -> RosieGPT:
    torch.manual_seed(seed)
    return RosieGPT(dataclasses.replace(TINY, **overrides)).eval()


def tokens(batch: int = 2, seq: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, TINY.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(seed))


def test_output_shapes_and_loss() -> None:
    model, idx = tiny_model(), tokens()
    out = model(idx, targets=idx)
    assert out.logits.shape == (2, 12, TINY.vocab_size)
    assert out.emotion_logits.shape == (2, 12, TINY.n_emotions) == (2, 12, 10)
    assert out.loss is not None and out.loss.ndim == 0 and out.loss.item() > 0
    assert model(idx).loss is None
    assert model.embed(idx).shape == (2, TINY.n_embd)


def test_loss_mask_selects_positions_and_all_masked_is_zero() -> None:
    model, idx = tiny_model(), tokens()
    mask = torch.zeros_like(idx)
    mask[:, 3:6] = 1
    expected = model(idx[:, :], targets=idx.masked_fill(mask == 0, -100)).loss
    assert torch.allclose(model(idx, targets=idx, loss_mask=mask).loss, expected)
    zero = model(idx, targets=idx, loss_mask=torch.zeros_like(idx)).loss
    assert zero.item() == 0.0 and not torch.isnan(zero)
    assert emotion_loss(model(idx).emotion_logits, torch.full_like(idx, -1)).item() == 0.0


def test_causality_future_tokens_do_not_change_past_logits() -> None:
    model, idx = tiny_model(), tokens()
    changed = idx.clone()
    changed[:, 7] = (changed[:, 7] + 1) % TINY.vocab_size
    a, b = model(idx).logits, model(changed).logits
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_kv_cache_matches_full_forward() -> None:
    model, idx = tiny_model(), tokens(seq=14)
    memory = torch.randn(2, 3, TINY.n_embd)
    model.blocks[1].memory_attn.gate.data.fill_(0.7)  # exercise the memory path under the cache too
    full = model(idx, persona_ids=torch.tensor([0, 2]), memory=memory).logits
    cache = model.new_kv_cache(batch_size=2, max_len=20)
    # a 5-token prompt, a 3-token chunk, then one token at a time
    pieces = [idx[:, :5], idx[:, 5:8], *idx[:, 8:].split(1, dim=1)]
    step_logits = [model(p, persona_ids=torch.tensor([0, 2]), memory=memory, kv_cache=cache).logits
                   for p in pieces]
    assert cache.length == 14
    assert torch.allclose(torch.cat(step_logits, dim=1), full, atol=1e-5)
    cache.crop(5)
    assert torch.allclose(model(idx[:, 5:8], persona_ids=torch.tensor([0, 2]), memory=memory,
                                kv_cache=cache).logits, full[:, 5:8], atol=1e-5)


def test_bf16_model_over_an_fp32_cache_matches_its_full_forward() -> None:
    """The engine's cache for bf16 weights on CPUs whose bf16 attention is slow: keys and values
    kept in fp32, prefill, chunk, single tokens and a batched decode step all agree with the
    model's own full forward, and the cache really holds fp32."""
    model, idx = tiny_model().to(torch.bfloat16), tokens(seq=12)
    full = model.hidden_states(idx).float()
    cache = model.new_kv_cache(batch_size=2, max_len=16, dtype=torch.float32)
    pieces = [idx[:, :5], idx[:, 5:8], idx[:, 8:9]]
    hidden = [model.hidden_states(p, kv_cache=cache) for p in pieces]
    assert cache.keys.dtype == torch.float32 and all(h.dtype == torch.bfloat16 for h in hidden)
    assert torch.allclose(torch.cat(hidden, dim=1).float(), full[:, :9], atol=0.05)
    rows = []
    for row in range(2):  # each conversation its own cache, as the engine's batcher holds them
        own = model.new_kv_cache(1, 16, dtype=torch.float32)
        model.hidden_states(idx[row : row + 1, :9], kv_cache=own)
        rows.append(own)
    stepped = model.decode_step(idx[:, 9], rows, torch.zeros(2, dtype=torch.long), [None, None])
    assert torch.allclose(stepped.float(), full[:, 9], atol=0.05)


def test_batched_decode_step_matches_each_sequence_alone() -> None:
    """Three conversations at different lengths, personas and memories, one token each in one
    batched step: the same hidden states as stepping each alone, and every cache advanced by one."""
    model = tiny_model()
    model.blocks[1].memory_attn.gate.data.fill_(0.7)
    prompts, personas = [tokens(1, n, seed=n)[0] for n in (3, 7, 5)], [0, 2, 1]
    memories = [None, torch.randn(1, 2, TINY.n_embd), None]
    alone, batched = [], []
    for prompt, persona, memory in zip(prompts, personas, memories, strict=True):
        for outputs in (alone, batched):
            cache = model.new_kv_cache(1, 16)
            persona_ids = torch.tensor([persona])
            model.hidden_states(prompt[None], persona_ids=persona_ids, memory=memory, kv_cache=cache)
            outputs.append(cache)
    nxt = torch.tensor([4, 9, 2])
    expected = torch.cat([
        model.hidden_states(nxt[i, None, None], persona_ids=torch.tensor([personas[i]]), memory=memories[i],
                            kv_cache=alone[i])[:, -1]
        for i in range(3)
    ])
    got = model.decode_step(nxt, batched, torch.tensor(personas), memories)
    assert torch.allclose(got, expected, atol=1e-5)
    assert [c.length for c in batched] == [4, 8, 6]


def test_prompts_prefilled_together_match_each_prefilled_alone() -> None:
    """The batcher's shared prefill: prompts of different lengths and personas right-padded into
    one forward give each conversation the hidden states, next-token logits and cache of its own
    prefill; a prompt with memories (or a cache in use) runs alone."""
    model = tiny_model()
    model.blocks[1].memory_attn.gate.data.fill_(0.7)
    prompts, personas = [tokens(1, n, seed=n)[0].tolist() for n in (3, 9, 6, 4)], [0, 2, 1, 0]
    memories = [None, None, None, torch.randn(1, 2, TINY.n_embd)]
    head = lambda h: F.linear(h, model.tok_emb.weight)  # noqa: E731
    batcher = StepBatcher(model, head)
    requests = [_Request(p, model.new_kv_cache(1, 16), persona, m)
                for p, persona, m in zip(prompts, personas, memories, strict=True)]
    batcher._run_prompts(requests)
    assert (batcher.prefills, batcher.prompts) == (2, 4)  # three shared one pass, the memory one ran alone
    for request in requests:
        alone = model.new_kv_cache(1, 16)
        with torch.inference_mode():
            persona_ids = torch.tensor([request.persona_id])
            hidden = model.hidden_states(torch.tensor([request.ids]), persona_ids=persona_ids,
                                         memory=request.memory, kv_cache=alone)[0]
            logits = head(hidden[-1])
        assert torch.allclose(request.hidden, hidden, atol=1e-5)
        assert torch.allclose(request.logits, logits, atol=1e-4)
        assert request.cache.length == alone.length == len(request.ids)
        assert torch.allclose(request.cache.keys, alone.keys, atol=1e-5)
        assert torch.allclose(request.cache.values, alone.values, atol=1e-5)
    with pytest.raises(ValueError, match="empty batch-1 cache"):
        requests[0].cache.take_row(requests[1].cache, 0, 2)


def test_a_failed_prompt_pass_fails_its_callers_and_the_rest_still_run() -> None:
    """A shared prefill that raises hands the error to its own callers; the prompt that runs alone
    (it has memories) still gets its states, rather than a caller left waiting forever."""
    model = tiny_model()
    batcher = StepBatcher(model, lambda h: F.linear(h, model.tok_emb.weight))
    hidden_states = model.hidden_states

    def fails_when_shared(idx: torch.Tensor, **kwargs: object) -> torch.Tensor:
        if idx.shape[0] > 1:
            raise RuntimeError("out of memory")
        return hidden_states(idx, **kwargs)

    model.hidden_states = fails_when_shared
    requests = [_Request(tokens(1, 5, seed=s)[0].tolist(), model.new_kv_cache(1, 16), 0, m)
                for s, m in ((1, None), (2, None), (3, torch.randn(1, 2, TINY.n_embd)))]
    batcher._run_prompts(requests)
    for shared in requests[:2]:
        with pytest.raises(RuntimeError, match="out of memory"):
            shared.result()
    hidden, logits = requests[2].result()
    assert hidden.shape == (5, TINY.n_embd) and logits.shape == (TINY.vocab_size,)


def test_every_forward_runs_on_the_one_forward_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Callers on many threads queue their work; one thread runs every pass (one set of intra-op
    workers for all of them), stops when idle and starts again with the next request."""
    monkeypatch.setattr("model.batching.RUNNER_IDLE_S", 0.2)
    model = tiny_model()
    batcher = StepBatcher(model, lambda h: F.linear(h, model.tok_emb.weight))
    ran_on: set[str] = set()

    def recorded(method):
        def run(*args, **kwargs):
            ran_on.add(threading.current_thread().name)
            return method(*args, **kwargs)
        return run

    for name in ("decode_step", "hidden_states"):
        monkeypatch.setattr(model, name, recorded(getattr(model, name)))

    def chat(seed: int) -> None:
        cache = model.new_kv_cache(1, 16)
        batcher.prefill(tokens(1, 4, seed=seed)[0].tolist(), cache, 0, None)
        for token in range(3):
            batcher.step(token, cache, 0, None)

    threads = [threading.Thread(target=chat, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ran_on == {"rosie-forward"}
    assert batcher.prompts == 4 and batcher.rows == 12
    deadline = time.monotonic() + 5
    while batcher._runner is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert batcher._runner is None, "the forward thread did not stop when idle"
    chat(9)  # and it starts again
    assert batcher.prompts == 5


def test_decode_feeds_each_picked_token_one_step_ahead_of_its_caller() -> None:
    """``StepBatcher.decode``: the forward thread picks each next token right after its step and
    queues the step that feeds it, giving the hidden states of a plain step-by-step decode; it runs
    one step ahead of a caller that holds on to a result, no further."""
    model = tiny_model()
    batcher = StepBatcher(model, lambda h: F.linear(h, model.tok_emb.weight))
    prompt = tokens(1, 4, seed=3)[0].tolist()
    cache = model.new_kv_cache(1, 16)
    _, logits = batcher.prefill(prompt, cache, 0, None)
    picked: list[int] = []

    def pick(logits: torch.Tensor) -> int | None:  # greedy, five tokens
        if len(picked) == 5:
            return None
        picked.append(int(logits.argmax()))
        return picked[-1]

    first = pick(logits)
    steps = batcher.decode(first, cache, 0, None, pick)
    hidden, token = next(steps)
    time.sleep(0.3)  # holding the result: the step for the picked token ran, the one after it waits
    assert (batcher.steps, len(picked), cache.length) == (2, 3, len(prompt) + 2)
    got = [hidden] + [h for h, _ in steps]
    assert len(got) == 5 and cache.length == len(prompt) + 5
    alone = model.new_kv_cache(1, 16)
    with torch.inference_mode():
        expected = model.hidden_states(torch.tensor([prompt + picked]), kv_cache=alone)[0, len(prompt):]
    assert torch.allclose(torch.stack(got), expected, atol=1e-5)


def test_sequence_limits_raise() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="block_size"):
        model(tokens(seq=TINY.block_size + 1))
    cache = model.new_kv_cache(batch_size=2, max_len=4)
    with pytest.raises(ValueError, match="KV cache full"):
        model(tokens(seq=5), kv_cache=cache)


def test_persona_embedding_changes_output_and_defaults_to_rosie() -> None:
    model, idx = tiny_model(), tokens()
    rosie = model(idx, persona_ids=torch.tensor([0, 0])).logits
    assert torch.equal(model(idx).logits, rosie)
    other = model(idx, persona_ids=torch.tensor([1, 1])).logits
    assert not torch.allclose(rosie, other)


def test_closed_memory_gate_is_identity() -> None:
    model, idx = tiny_model(), tokens()
    memory = torch.randn(2, 5, TINY.n_embd)
    without = model(idx).logits
    assert torch.equal(model(idx, memory=memory).logits, without)
    # the same weights in a model built without any memory path give the identical output too
    plain = tiny_model(memory=False)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all("memory_attn" in k for k in unexpected)
    assert torch.equal(plain(idx).logits, without)
    model.blocks[1].memory_attn.gate.data.fill_(0.5)  # an open gate does read the memory
    assert not torch.allclose(model(idx, memory=memory).logits, without)


def test_gradient_checkpointing_gives_same_gradients() -> None:
    idx = tokens()
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(gradient_checkpointing=checkpointing).train()
        model(idx, targets=idx).loss.backward()
        grads.append(model.tok_emb.weight.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_every_preset_parameter_count_matches_formula() -> None:
    no_memory = dataclasses.replace(TINY, memory=False)
    for name, config in [*PRESETS.items(), ("tiny", TINY), ("no-memory", no_memory)]:
        with torch.device("meta"):  # no memory, no init cost, even for 1B parameters
            model = RosieGPT(config)
        assert model.num_parameters() == parameter_count_formula(config), name
    assert 4e6 < parameter_count_formula(PRESETS["demo"]) < 8e6
    assert 100e6 < parameter_count_formula(PRESETS["gpt768"]) < 130e6
    assert 450e6 < parameter_count_formula(PRESETS["500m"]) < 550e6
    assert 0.9e9 < parameter_count_formula(PRESETS["1b"]) < 1.1e9
    assert f"{parameter_count_formula(PRESETS['1b']):,}" in parameter_table()


def test_config_json_round_trip_and_validation(tmp_path) -> None:
    config = ModelConfig.from_preset("demo", dropout=0.1)
    config.save_json(tmp_path / "config.json")
    assert ModelConfig.load_json(tmp_path / "config.json") == config
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig.from_preset("demo", n_head=3)
    with pytest.raises(ValueError, match="unknown preset"):
        ModelConfig.from_preset("huge")
    (tmp_path / "bad.json").write_text(json.dumps({**config.to_dict(), "rope": True}))
    with pytest.raises(ValueError, match="unknown config keys"):
        ModelConfig.load_json(tmp_path / "bad.json")


def test_save_load_round_trip_is_bitwise(tmp_path) -> None:
    model, idx = tiny_model(seed=0), tokens()
    path = save_weights(model, tmp_path / "weights" / "final.pth", manifest={"phase": "emotion"})
    for file in (path, path.with_suffix(".safetensors")):
        fresh = load_weights(tiny_model(seed=123), file)
        for key, tensor in model.state_dict().items():
            assert torch.equal(fresh.state_dict()[key], tensor), key
        assert torch.equal(fresh(idx).logits, model(idx).logits)
    assert set(read_state_dict(path)) == set(model.state_dict())
    manifest = json.loads(manifest_path(path).read_text())
    assert manifest["phase"] == "emotion" and len(manifest["sha256"]) == 64
    assert manifest["parameters"] == parameter_count_formula(TINY)


def test_load_model_from_model_dir(tmp_path) -> None:
    model_dir = tmp_path / "rosie_model"
    tokenizer = RosieTokenizer.train(["hello there, Rosie!"] * 20, vocab_size=300)
    tokenizer.save(model_dir / "tokenizer")
    config = dataclasses.replace(TINY, vocab_size=300)
    config.save_json(model_dir / "config.json")
    save_weights(tiny_model(vocab_size=300), model_dir / "weights" / "base.pth")
    model, loaded_tokenizer, loaded_config = load_model(model_dir, weights="base")
    assert loaded_config == config and not model.training
    assert loaded_tokenizer.sha256 == tokenizer.sha256
    assert torch.equal(model(tokens()).logits, tiny_model(vocab_size=300)(tokens()).logits)
    with pytest.raises(FileNotFoundError, match="final.pth"):
        load_model(model_dir)
    TINY.save_json(model_dir / "config.json")  # a 101-token model cannot use a 293-token tokenizer
    with pytest.raises(ValueError, match="different runs"):
        load_model(model_dir, weights="base")


def test_balanced_emotion_loss_is_the_weighted_mean_over_labelled_positions() -> None:
    weights = balanced_class_weights([6, 2, 0])
    assert weights.tolist() == pytest.approx([8 / (2 * 6), 8 / (2 * 2), 1.0])  # n / (classes present * n_c)
    logits = torch.randn(1, 4, 3)
    targets = torch.tensor([[0, -1, 1, 1]])
    labelled = torch.tensor([0, 1, 1])
    per_position = torch.nn.functional.cross_entropy(logits[0, [0, 2, 3]], labelled, reduction="none")
    expected = (per_position * weights[[0, 1, 1]]).sum() / weights[[0, 1, 1]].sum()
    assert torch.allclose(emotion_loss(logits, targets, weights), expected)
    assert emotion_loss(logits, torch.full((1, 4), -1), weights).item() == 0.0


def test_turn_means_average_each_turn_from_its_role_token_causally() -> None:
    system, user, rosie = TURN_START_IDS[1:]
    idx = torch.tensor([[9, 9, system, 9, 2, user, 9, 9, 2, rosie, 9, 2, 0, 9]])
    h = torch.randn(1, idx.shape[1], 3, generator=torch.Generator().manual_seed(0))
    starts = [0, 0, 2, 2, 2, 5, 5, 5, 5, 9, 9, 9, 12, 12]  # the turn each position belongs to
    expected = torch.stack([h[0, start : t + 1].mean(dim=0) for t, start in enumerate(starts)])
    assert torch.allclose(turn_means(h, idx)[0], expected, atol=1e-6)
    # nothing after a position changes its reading, nor does anything before its turn
    changed = h.clone()
    changed[0, 10:] += 5.0
    changed[0, :5] -= 5.0
    assert torch.allclose(turn_means(changed, idx)[0, 5:10], expected[5:10], atol=1e-6)


def test_emotion_pooling_last_reads_the_position_alone_and_old_configs_load_as_last(tmp_path) -> None:
    model, idx = tiny_model(emotion_pooling="last"), tokens()
    h = model.hidden_states(idx)
    assert torch.equal(model(idx).emotion_logits, model.emotion_head(h))
    pooled = tiny_model()  # the default reads the turn's mean
    assert torch.allclose(pooled(idx).emotion_logits, pooled.emotion_head(turn_means(h, idx)))
    with pytest.raises(ValueError, match="emotion_pooling"):
        ModelConfig(**{**TINY.to_dict(), "emotion_pooling": "max"})
    written = TINY.to_dict()
    del written["emotion_pooling"]  # a config.json from before the setting existed
    (tmp_path / "config.json").write_text(json.dumps(written))
    assert ModelConfig.load_json(tmp_path / "config.json").emotion_pooling == "last"
