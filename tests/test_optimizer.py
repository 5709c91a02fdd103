"""The phase's optimizer and schedule (model/optimizer.py), and the model's rotary/QK-norm options."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from model.config import ModelConfig, parameter_count_formula
from model.ds_config import deepspeed_config
from model.gpt import RosieGPT
from model.optimizer import build_plain_optimizer, is_hidden_matrix, lr_multiplier, parameter_groups
from model.train import build_engine
from model.train_config import PhaseConfig, TrainConfig

TINY = {"vocab_size": 300, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32}
PHASE = PhaseConfig(max_steps=100, learning_rate=1e-3, warmup_steps=10, micro_batch_size=2, min_lr_ratio=0.1)


def test_cosine_warms_up_then_decays_to_the_floor() -> None:
    shares = [lr_multiplier(step, PHASE) for step in range(100)]
    assert shares[0] == pytest.approx(0.1) and shares[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(shares[9:], shares[10:], strict=False))
    assert shares[-1] == pytest.approx(0.1, abs=1e-3)


def test_wsd_holds_the_peak_then_decays_linearly_over_the_last_fifth() -> None:
    wsd = dataclasses.replace(PHASE, schedule="wsd", decay_fraction=0.2)
    shares = [lr_multiplier(step, wsd) for step in range(100)]
    assert shares[10:80] == [1.0] * 70
    assert shares[80] < 1.0 and shares[-1] == pytest.approx(0.1)
    steps = [a - b for a, b in zip(shares[80:], shares[81:], strict=False)]
    assert max(steps) - min(steps) < 1e-9  # linear
    with pytest.raises(ValueError, match="schedule"):
        lr_multiplier(50, dataclasses.replace(PHASE, schedule="step"))


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest() -> None:
    model = RosieGPT(ModelConfig(**TINY, rotary=True))
    train = dataclasses.replace(TrainConfig.from_preset("demo"), optimizer="muon")
    muon, adam_matrices, adam_vectors = parameter_groups(model, train, PHASE)
    names = {id(p): n for n, p in model.named_parameters()}
    assert muon["use_muon"] and not adam_matrices["use_muon"]
    assert {names[id(p)] for p in adam_matrices["params"]} == {
        "tok_emb.weight",
        "persona_emb.weight",
        "emotion_head.weight",
    }
    assert all(names[id(p)].startswith("blocks.") and p.dim() == 2 for p in muon["params"])
    assert all(p.dim() == 1 for p in adam_vectors["params"]) and adam_vectors["weight_decay"] == 0.0
    counted = sum(len(g["params"]) for g in (muon, adam_matrices, adam_vectors))
    assert counted == len(list(model.parameters()))
    assert not is_hidden_matrix("tok_emb.weight", model.tok_emb.weight)
    build_plain_optimizer(model, train, PHASE)  # tags every parameter as DeepSpeed's ZeRO reads it
    assert all(p.use_muon is (id(p) in {id(q) for q in muon["params"]}) for p in model.parameters())


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_every_optimizer_lowers_the_loss_on_a_repeated_batch(optimizer: str) -> None:
    torch.manual_seed(0)
    model = RosieGPT(ModelConfig(**TINY))
    train = dataclasses.replace(TrainConfig.from_preset("demo"), optimizer=optimizer)
    phase = dataclasses.replace(PHASE, learning_rate=3e-3, warmup_steps=1)
    opt = build_plain_optimizer(model, train, phase)
    idx = torch.randint(0, 300, (4, 17))
    losses = []
    for _ in range(20):
        loss = model(idx[:, :-1], targets=idx[:, 1:]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def one_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """A world of one, as the trainer starts it outside the launcher."""
    from model.distributed import free_port, init_distributed

    # set here so they are undone after the test: the trainers later tests start must not inherit
    # the port this process group listens on
    rendezvous = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    for name, value in {**rendezvous, "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    init_distributed()


def test_the_engine_runs_muon_with_the_phase_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """DeepSpeed takes the built Muon and the schedule: the learning rate follows lr_multiplier."""
    one_process_group(monkeypatch)
    torch.manual_seed(0)
    train = dataclasses.replace(TrainConfig.from_preset("demo"), optimizer="muon", zero_stage=0)
    train = train.with_overrides(
        {"phases": {"base": {"max_steps": 10, "warmup_steps": 2, "micro_batch_size": 2}}}
    )
    engine = build_engine(RosieGPT(ModelConfig(**TINY)), train, "base", "fp32", 1, "cpu")
    idx = torch.randint(0, 300, (2, 17))
    for _ in range(3):
        engine.backward(engine(idx[:, :-1], targets=idx[:, 1:]).loss)
        engine.step()
    phase = train.phase("base")
    peaks = [phase.muon_learning_rate, phase.learning_rate, phase.learning_rate]
    lrs = [group["lr"] for group in engine.optimizer.param_groups]
    assert lrs == pytest.approx([p * lr_multiplier(3, phase) for p in peaks])


def test_rotary_and_qk_norm_change_the_parameter_count_as_the_formula_says() -> None:
    for rotary in (False, True):
        for qk_norm in (False, True):
            config = ModelConfig(**TINY, rotary=rotary, qk_norm=qk_norm)
            assert RosieGPT(config).num_parameters() == parameter_count_formula(config)
    assert RosieGPT(ModelConfig(**TINY, rotary=True)).pos_emb is None


def test_rotary_cached_decoding_matches_the_full_forward() -> None:
    torch.manual_seed(0)
    model = RosieGPT(ModelConfig(**TINY, rotary=True, qk_norm=True)).eval()
    idx = torch.randint(0, 300, (2, 20))
    full = model(idx).logits
    cache = model.new_kv_cache(2, 32)
    first = model(idx[:, :12], kv_cache=cache).logits
    rest = model(idx[:, 12:15], kv_cache=cache).logits
    caches = [model.new_kv_cache(1, 32) for _ in range(2)]
    for i, one in enumerate(caches):
        model(idx[i : i + 1, : 15 - i], kv_cache=one)  # the two sequences sit at different positions
    hidden = model.decode_step(idx[[0, 1], [15, 14]], caches, torch.zeros(2, dtype=torch.long), [None, None])
    stepped = torch.nn.functional.linear(hidden, model.tok_emb.weight)
    torch.testing.assert_close(first, full[:, :12], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rest, full[:, 12:15], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(stepped, full[[0, 1], [15, 14]], atol=1e-5, rtol=1e-5)


def test_one_process_backward_reduces_nothing_and_matches_autograd(monkeypatch: pytest.MonkeyPatch) -> None:
    """At world 1 DeepSpeed's backward is plain autograd: no bucketed all-reduce of every gradient
    (it was 40% of gpt768's backward on CPU), and the same gradients."""
    import deepspeed.comm

    one_process_group(monkeypatch)
    train = dataclasses.replace(TrainConfig.from_preset("demo"), optimizer="adamw", zero_stage=0)
    torch.manual_seed(0)
    model = RosieGPT(ModelConfig(**TINY))
    reference = RosieGPT(ModelConfig(**TINY))
    reference.load_state_dict(model.state_dict())
    engine = build_engine(model, train, "base", "fp32", 1, "cpu")
    reductions = []
    all_reduce = deepspeed.comm.all_reduce

    def counted_all_reduce(*args, **kwargs):
        reductions.append(args)
        return all_reduce(*args, **kwargs)

    monkeypatch.setattr(deepspeed.comm, "all_reduce", counted_all_reduce)
    idx = torch.randint(0, 300, (2, 17))
    engine.backward(engine(idx[:, :-1], targets=idx[:, 1:]).loss)
    reference(idx[:, :-1], targets=idx[:, 1:]).loss.backward()
    assert reductions == []
    for (name, p), q in zip(engine.module.named_parameters(), reference.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), name  # the memory layers take no part
        assert p.grad is None or torch.allclose(p.grad, q.grad, atol=1e-6), name



def test_one_process_adamw_is_torchs_fused_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trainer's AdamW without offload is torch's fused kernel (a quarter of the per-tensor
    loop's time on CPU) with the phase's groups, and it trains; under offload DeepSpeed's CPU Adam
    takes the same settings, without the flag it does not know."""
    one_process_group(monkeypatch)
    train = dataclasses.replace(TrainConfig.from_preset("demo"), optimizer="adamw", zero_stage=0)
    torch.manual_seed(0)
    model = RosieGPT(ModelConfig(**TINY))
    engine = build_engine(model, train, "base", "fp32", 1, "cpu")
    assert type(engine.optimizer) is torch.optim.AdamW and engine.optimizer.defaults["fused"]
    expected = parameter_groups(model, train, train.phase("base"))
    assert [g["weight_decay"] for g in engine.optimizer.param_groups] == [g["weight_decay"] for g in expected]
    idx = torch.randint(0, 300, (2, 17))
    losses = []
    for _ in range(5):
        loss = engine(idx[:, :-1], targets=idx[:, 1:]).loss
        engine.backward(loss)
        engine.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    offload = deepspeed_config(train.with_overrides({"zero_stage": 2, "offload_optimizer": True}), "base",
                               precision="fp32", world_size=2, device_type="cpu")
    assert "fused" not in offload["optimizer"]["params"] and not offload["optimizer"]["params"]["torch_adam"]
