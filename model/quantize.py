"""Optional int8 dynamic quantization for CPU inference.

Every ``nn.Linear`` (attention, MLP, LM and emotion heads) gets int8 weights and dynamically
quantized activations; embeddings and layer norms stay fp32. Weights shrink ~4x and the matmuls use
FBGEMM/oneDNN int8 kernels. Only for inference: the quantized model cannot be trained or saved back
as a regular state dict.
"""

from __future__ import annotations

import warnings

import torch


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Return an int8 dynamically quantized copy of ``model`` (CPU only), in eval mode."""
    # torch.ao.quantization is deprecated in favour of torchao, which is not installed here; the
    # eager dynamic path still works on this torch and needs nothing extra.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        quantized = quantize_dynamic(model.cpu().eval(), {torch.nn.Linear}, dtype=torch.qint8, inplace=False)
    return quantized


def linear_weight_bytes(model: torch.nn.Module) -> int:
    """Bytes held by Linear weights, fp32 or packed int8 (to report the size reduction)."""
    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
        elif hasattr(module, "_packed_params") and hasattr(module, "weight"):
            total += module.weight().numel()  # int8: one byte per weight
    return total
