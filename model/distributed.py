"""The processes and the hardware they run on: the process group, each rank's device, its memory,
its measured matmul speed (which picks the precision and is the MFU denominator on CPU) and peak
memory. Training FLOPs per token are :func:`model.config.training_flops_per_token`.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import torch


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
    if os.environ["WORLD_SIZE"] == "1":
        # A world of one shares nothing: skip the JIT build of DeepSpeed's CPU shared-memory
        # allreduce (35 s of gcc on a fresh 2-core machine, the first phase of every new machine).
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
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


@functools.cache
def matmul_flops(
    device_type: str, dtype: torch.dtype, n: int = 1024, repeats: int = 20, budget_s: float = 1.0
) -> float:
    """Best FLOP/s of an ``n x n`` matmul at ``dtype`` on this process's device and threads.

    Cached per process: the precision choice and the MFU denominator read the same measurement.
    Best of up to ``repeats`` after warm-ups, so background load lowers it least (5 repeats once read
    408 GFLOP/s where a quiet process reads about 800), within ``budget_s``: on a CPU whose bf16 is
    emulated one matmul takes a quarter of a second, and every process that loads the model probes.
    """
    device = torch.device(device_type)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return 2 * n**3 / best_seconds(lambda: a @ b, repeats, budget_s, sync)


def best_seconds(
    work: Callable[[], object], repeats: int, budget_s: float, sync: Callable[[], object] = lambda: None
) -> float:
    """The fastest of up to ``repeats`` timed runs of ``work`` after 3 warm-ups (thread pool, kernel
    selection, clock ramp), stopping early once ``budget_s`` has passed."""
    deadline = time.perf_counter() + budget_s
    for _ in range(3):
        work()
    best = math.inf
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        work()
        sync()
        best = min(best, time.perf_counter() - started)
        if started > deadline:
            break
    return best


# bf16 on CPU only where its matmuls beat fp32 by this much: the casts around them cost the rest,
# and the margin keeps the choice stable under a shared machine's timing noise.
CPU_BF16_MIN_SPEEDUP = 1.25


def cpu_bf16_is_faster() -> bool:
    """Whether this CPU has bf16 units worth using (AVX512-BF16, AMX): by measurement, not by flags."""
    return matmul_flops("cpu", torch.bfloat16) >= CPU_BF16_MIN_SPEEDUP * matmul_flops("cpu", torch.float32)


@functools.cache
def cpu_bf16_attention_is_faster(keys: int = 512, heads: int = 12, head_dim: int = 64) -> bool:
    """Whether one new token's attention over a KV cache runs faster in bf16 than in fp32 here.

    Not implied by the matmul probe: on an AVX512-BF16 EPYC (no AMX) bf16 matmuls ran faster, yet
    ATen's CPU attention took 6x as long in bf16 for one query over 544 cached keys (about 380
    against 65 us per layer at gpt768's heads), a fifth of each bf16 decode step."""
    timings = []
    for dtype in (torch.bfloat16, torch.float32):
        q = torch.randn(1, heads, 1, head_dim).to(dtype)
        k, v = (torch.randn(1, heads, keys, head_dim).to(dtype) for _ in range(2))
        attend = functools.partial(torch.nn.functional.scaled_dot_product_attention, q, k, v)
        timings.append(best_seconds(attend, repeats=20, budget_s=0.2))
    return timings[0] < timings[1]


def peak_flops(device: torch.device, dtype: torch.dtype) -> tuple[float, str]:
    """The denominator of MFU and where it comes from: the datasheet's dense 16-bit peak for known
    GPUs, otherwise the measured matmul peak at ``dtype`` (the CPU's BLAS at the chosen precision)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, tflops in GPU_PEAK_TFLOPS.items():
            if key in name and dtype != torch.float32:
                return tflops * 1e12, f"{name} datasheet, dense {str(dtype).removeprefix('torch.')}"
    else:
        name = f"{torch.get_num_threads()} CPU threads"
    flops = matmul_flops(device.type, dtype)
    precision = str(dtype).removeprefix("torch.")
    return flops, f"measured {precision} matmul peak on {name}: {flops / 1e9:,.0f} GFLOP/s"


def device_memory_bytes(device: torch.device) -> int:
    """Memory a training process may fill: the accelerator's total, or the host's available RAM."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def peak_memory_gib(device: torch.device) -> float:
    """Peak accelerator memory allocated (GPU), else the process's peak resident memory (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
