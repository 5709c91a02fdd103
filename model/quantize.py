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


def quantized_tied_head(embedding_weight: torch.Tensor) -> torch.nn.Module:
    """An int8 LM head from a tied token-embedding matrix [vocab, n_embd].

    RosieGPT computes its head functionally from the embedding, which quantize_dynamic cannot
    see; at a 32k vocab that head is ~20% of each decode step, so the engine uses this copy.
    """
    head = torch.nn.Linear(embedding_weight.shape[1], embedding_weight.shape[0], bias=False)
    head.weight.data = embedding_weight.detach().clone()
    return quantize_int8(torch.nn.Sequential(head))  # quantize_dynamic swaps children, not the root


def linear_weight_bytes(model: torch.nn.Module) -> int:
    """Bytes held by Linear weights, fp32 or packed int8 (to report the size reduction)."""
    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
        elif hasattr(module, "_packed_params") and hasattr(module, "weight"):
            total += module.weight().numel()  # int8: one byte per weight
    return total
