"""Training settings and the DeepSpeed config generated from them."""

from __future__ import annotations

import json

import pytest
import torch

from foundation.settings import Settings
from model.config import PRESETS, ModelConfig
from model.distributed import CPU_BF16_MIN_SPEEDUP, cpu_bf16_is_faster, matmul_flops
from model.ds_config import deepspeed_config, resolve_zero, select_precision
from model.train_config import PHASES, TRAIN_PRESETS, TrainConfig


def test_every_model_preset_has_a_training_recipe():
    assert set(TRAIN_PRESETS) == set(PRESETS)
    for config in TRAIN_PRESETS.values():
        assert set(config.phases) == set(PHASES)
        assert config.zero_stage == 2
        assert config.phases["emotion"].emotion_loss_weight > 0
        assert config.phases["base"].emotion_loss_weight == 0


def test_overrides_merge_phase_fields_and_reject_unknown_keys(monkeypatch, tmp_path):
    base = TrainConfig.from_preset("demo")
    changed = base.with_overrides({"zero_stage": 3, "phases": {"base": {"max_steps": 7}}})
    assert changed.zero_stage == 3 and changed.phases["base"].max_steps == 7
    assert changed.phases["base"].learning_rate == base.phases["base"].learning_rate
    assert changed.phases["personality"] == base.phases["personality"]
    with pytest.raises(ValueError, match="unknown training settings"):
        base.with_overrides({"zero_stag": 3})
    with pytest.raises(TypeError):
        base.with_overrides({"phases": {"base": {"max_step": 3}}})
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"offload_optimizer": True}))
    monkeypatch.setenv("ROSIE_TRAIN_OVERRIDES", str(path))
    assert TrainConfig.from_settings(Settings.from_env()).offload_optimizer
    monkeypatch.setenv("ROSIE_TRAIN_OVERRIDES", '{"seed": 5}')
    assert TrainConfig.from_settings(Settings.from_env()).seed == 5


def test_json_round_trip(tmp_path):
    config = TrainConfig.from_preset("500m")
    config.save_json(tmp_path / "train.json")
    assert TrainConfig.load_json(tmp_path / "train.json") == config


def test_precision_by_device():
    measured = matmul_flops("cpu", torch.bfloat16) / matmul_flops("cpu", torch.float32)
    assert select_precision("auto", "cpu") == ("bf16" if measured >= CPU_BF16_MIN_SPEEDUP else "fp32")
    assert cpu_bf16_is_faster() == (measured >= CPU_BF16_MIN_SPEEDUP)
    assert select_precision("fp32", "cpu") == "fp32"
    assert select_precision("fp16", "cuda") == "fp16"
    with pytest.raises(ValueError):
        select_precision("fp8", "cuda")


def test_deepspeed_config_follows_the_settings():
    overrides = {
        "optimizer": "adamw",
        "offload_optimizer": True,
        "gradient_clipping": 0.5,
        "phases": {"personality": {"grad_accum_steps": 4}},
    }
    train = TrainConfig.from_preset("demo").with_overrides(overrides)
    config = deepspeed_config(train, "personality", precision="fp16", world_size=2, device_type="cuda")
    phase = train.phases["personality"]
    assert config["train_batch_size"] == phase.micro_batch_size * 4 * 2
    assert config["gradient_accumulation_steps"] == 4
    assert config["gradient_clipping"] == 0.5
    assert config["zero_optimization"]["stage"] == 2
    assert config["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert config["optimizer"]["type"] == "AdamW"
    assert "scheduler" not in config  # the trainer passes model.optimizer.schedule
    assert config["fp16"]["enabled"] and config["fp16"]["loss_scale"] == 0  # dynamic loss scaling
    assert "bf16" not in config
    demo = TrainConfig.from_preset("demo")
    cpu = deepspeed_config(demo, "base", precision="fp32", world_size=1, device_type="cpu")
    assert "fp16" not in cpu and "bf16" not in cpu and "offload_optimizer" not in cpu["zero_optimization"]
    cpu_bf16 = deepspeed_config(demo, "base", precision="bf16", world_size=1, device_type="cpu")
    assert cpu_bf16["torch_autocast"] == {"enabled": True, "dtype": "bfloat16"} and "bf16" not in cpu_bf16
    stage3 = deepspeed_config(
        train.with_overrides({"zero_stage": 3}), "base", precision="bf16", world_size=1, device_type="cuda"
    )
    assert stage3["bf16"] == {"enabled": True} and "torch_autocast" not in stage3
    assert stage3["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
    with pytest.raises(ValueError, match="offload"):
        deepspeed_config(
            train.with_overrides({"zero_stage": 0}), "base", precision="fp32", world_size=1, device_type="cpu"
        )


def test_zero_stage_by_world_size_and_memory():
    """One process that fits runs ZeRO-0 (no offload); several ranks, or a model that does not fit
    one device, keep the configured stage and offload."""
    cpu = torch.device("cpu")
    demo = TrainConfig.from_preset("demo")
    config = ModelConfig.from_preset("demo")
    one = resolve_zero(demo.with_overrides({"offload_optimizer": True}), config, "base", 1, cpu)
    assert (one.zero_stage, one.offload_optimizer) == (0, False)
    assert resolve_zero(demo, config, "base", 2, cpu) == demo
    pinned = demo.with_overrides({"zero0_when_fits": False})
    assert resolve_zero(pinned, config, "base", 1, cpu) == pinned
    huge = TrainConfig.from_preset("1b")  # ~1B parameters at 2048 context: more than this host holds
    big_model = ModelConfig.from_preset("1b", n_layer=400)
    assert resolve_zero(huge, big_model, "base", 1, cpu) == huge
