"""int8 weight-only decode on CPU.

torchao quantizes each ``nn.Linear`` weight (attention, MLP, memory, emotion head and a copy of the
tied LM head): symmetric int8 with one fp32 scale per output row (``Int8Tensor.from_hp``, PerRow).
The matmul reads those int8 weights directly in ATen's ``_weight_int8pack_mm`` kernel, so a decode
step moves a quarter of fp32's weight bytes. (torchao's own CPU path for that tensor converts the
whole weight to the activation dtype on every call, which reads and writes more bytes than fp32.)
Activations enter that kernel in bf16 where this CPU's bf16 matmul measures faster than fp32 (the
same probe as training's precision choice), else in fp32; outputs return to fp32. Embeddings and
LayerNorms stay fp32. Inference only: the quantized model cannot be trained or saved back.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from model.distributed import cpu_bf16_is_faster


def activation_dtype() -> torch.dtype:
    """bf16 where this CPU's bf16 matmul is clearly faster than fp32 (measured once per process)."""
    return torch.bfloat16 if cpu_bf16_is_faster() else torch.float32


class Int8Linear(nn.Module):
    """A Linear whose weight is int8 with a per-row scale (torchao's quantization, ATen's kernel)."""

    def __init__(self, linear: nn.Linear, compute_dtype: torch.dtype) -> None:
        super().__init__()
        from torchao.quantization import PerRow
        from torchao.quantization.quantize_.workflows.int8.int8_tensor import Int8Tensor

        quantized = Int8Tensor.from_hp(linear.weight.detach().float(), PerRow())
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.compute_dtype = compute_dtype
        self.register_buffer("weight_int8", quantized.qdata.contiguous())  # [out, in]
        self.register_buffer("scales", quantized.scale.reshape(-1).to(compute_dtype))  # [out]
        bias = linear.bias.detach().float().clone() if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(self.compute_dtype)
        y = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scales).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def quantize_int8(model: nn.Module, compute_dtype: torch.dtype | None = None) -> nn.Module:
    """An int8 weight-only copy of ``model`` (CPU), in eval mode; ``model`` itself is untouched."""
    compute_dtype = compute_dtype or activation_dtype()
    quantized = copy.deepcopy(model).cpu().eval()
    for parent in list(quantized.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child, compute_dtype))
    return quantized


def quantized_tied_head(
    embedding_weight: torch.Tensor, compute_dtype: torch.dtype | None = None
) -> nn.Module:
    """An int8 LM head from a tied token-embedding matrix [vocab, n_embd].

    RosieGPT computes its head functionally from the embedding, which no module swap can see; at a
    32k vocab that head is ~20% of each decode step's weight bytes, so the engine uses this copy.
    """
    head = nn.Linear(embedding_weight.shape[1], embedding_weight.shape[0], bias=False)
    head.weight.data = embedding_weight.detach().float().clone()
    return Int8Linear(head, compute_dtype or activation_dtype())


def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes held by Linear weights, fp32 or int8 (to report the size reduction)."""
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
        elif isinstance(module, Int8Linear):
            total += module.weight_int8.numel()  # one byte per weight
    return total
