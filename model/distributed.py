"""The processes and the hardware they run on: the process group, each rank's device, and the
figures behind MFU (training FLOPs per token, the device's peak FLOPs) and peak memory.
"""

from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path

import torch

from model.config import ModelConfig


def free_port() -> int:
    """A free local TCP port: the rendezvous of a world of one (the OS picks, so runs never clash)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); a plain ``python`` run becomes a world of one."""
    import deepspeed

    for name, default in (
        ("RANK", "0"),
        ("LOCAL_RANK", "0"),
        ("WORLD_SIZE", "1"),
        ("MASTER_ADDR", "127.0.0.1"),
    ):
        os.environ.setdefault(name, default)
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    deepspeed.init_distributed(verbose=False)
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])


def device_for(local_rank: int) -> torch.device:
    """This rank's device: the CPU, or accelerator ``local_rank`` (made current)."""
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    if accelerator.device_name() == "cpu":
        return torch.device("cpu")
    accelerator.set_device(local_rank)
    return torch.device(accelerator.device_name(local_rank))


# Dense bf16/fp16 tensor-core peaks (TFLOPS) by device name; other devices are measured.
GPU_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
    "RTX 3060": 51.0,
    "RTX 4070": 117.0,
    "V100": 125.0,
    "T4": 65.0,
}


def cpu_peak_flops() -> float:
    """fp32 peak of the cores torch uses: threads x clock x FMA lanes (AVX-512: 64, AVX2: 32 FLOPs/cycle)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    per_cycle = 64 if " avx512f" in info else 32 if " fma" in info else 8
    return torch.get_num_threads() * (max(mhz) if mhz else 2000.0) * 1e6 * per_cycle


def peak_flops(device: torch.device, dtype: torch.dtype) -> tuple[float, str]:
    """The denominator of MFU: datasheet peak for known GPUs, the cores' FMA peak on CPU, else a
    measured matmul peak."""
    if device.type == "cpu":
        return cpu_peak_flops(), f"{torch.get_num_threads()} CPU threads x clock x FMA width (fp32)"
    name = torch.cuda.get_device_name(device)
    for key, tflops in GPU_PEAK_TFLOPS.items():
        if key in name and dtype != torch.float32:
            return tflops * 1e12, f"{name} datasheet"
    n = 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = math.inf
    for _ in range(3):
        torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best, f"measured {dtype} matmul on {name}"


def flops_per_token(config: ModelConfig, n_params: int, block_size: int) -> float:
    """Training FLOPs per token (PaLM appendix B, as in nanoGPT): 6N plus the attention scores."""
    return 6 * n_params + 12 * config.n_layer * config.n_embd * block_size


def peak_memory_gib(device: torch.device) -> float:
    """Peak accelerator memory allocated (GPU), else the process's peak resident memory (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
