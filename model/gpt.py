"""RosieGPT: a decoder-only transformer with an emotion head, persona embeddings and memory attention.

Shape of one forward pass (nanoGPT lineage)::

    x = tok_emb(idx) + persona_emb(persona_ids)  (+ pos_emb(positions) when positions are learned)
    for block: x = x + attn(ln1(x))        # causal SDPA, KV cache aware; rotary q/k, optional QK-norm
               x = x + tanh(gate) * memory_attn(ln(x), memory)           # some blocks; gate starts at 0
               x = x + mlp(ln2(x))                                       # GELU, 4x wide
    h = ln_f(x); logits = h @ tok_emb.T (tied)
    emotion_logits = emotion_head(turn_means(h)) + turn_means(emotion_lexicon[lexicon_ids(idx)])

The emotion head runs at every position (one small matmul); a turn's emotion is read at its
``<|end|>`` token. By default (``emotion_pooling="turn_mean"``) the head there reads the mean hidden
state of the turn so far, from its role token to that position: every word of the text it labels
weighs in directly, which a small model trained briefly does not learn to gather into one
position (docs/training.md). ``"last"`` reads the ``<|end|>`` position alone.

The head's lexical path (``emotion_lexicon_buckets > 0``) adds the turn's mean of a table of emotion
logits per token and per adjacent token pair (hashed): the words themselves, which is what a
TF-IDF classifier reads and what a small model's states hold least of. The table is a buffer, not a
parameter: it is fitted by convex regression on the emotion train split before phase 3
(:mod:`model.emotion_lexicon`), and phase 3 trains the rest of the head on top of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from labeling.special_tokens import END_OF_TEXT, ROLE_TOKENS, SPECIAL_TOKENS
from model.config import ModelConfig

# A turn begins at its role token (a document at <|endoftext|>): the emotion head pools from there.
TURN_START_IDS: tuple[int, ...] = tuple(SPECIAL_TOKENS.index(t) for t in (END_OF_TEXT, *ROLE_TOKENS))
_PAIR_HASH = 1_000_003  # a prime: (previous * prime + token) mod buckets spreads the pairs


def turn_starts(idx: torch.Tensor) -> torch.Tensor:
    """True where ``idx`` [B, T] begins a turn (:data:`TURN_START_IDS`)."""
    return torch.isin(idx, torch.tensor(TURN_START_IDS, device=idx.device))


def turn_start_positions(is_start: torch.Tensor) -> torch.Tensor:
    """For each position along the last dimension, where its turn began: the last position at or
    before it that ``is_start`` marks (0 where none does)."""
    positions = torch.arange(is_start.shape[-1], device=is_start.device).expand_as(is_start)
    return torch.where(is_start, positions, torch.zeros_like(positions)).cummax(dim=-1).values


def lexicon_ids(idx: torch.Tensor, vocab_size: int, buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of the lexical emotion table each position of ``idx`` [B, T] reads: its token's row, and
    its pair's row (``vocab_size`` + hashed (previous token, token)), -1 where there is no pair in
    the turn (a turn's first position, or the sequence's)."""
    previous = F.pad(idx[:, :-1], (1, 0))
    pairs = vocab_size + (previous * _PAIR_HASH + idx) % buckets
    no_pair = turn_starts(idx)
    no_pair[:, 0] = True
    return idx, pairs.masked_fill(no_pair, -1)


def lexicon_features(table: torch.Tensor, idx: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Each position's lexical emotion logits [B, T, n_emotions]: its token's row plus its pair's."""
    tokens, pairs = lexicon_ids(idx, vocab_size, table.shape[0] - vocab_size)
    return table[tokens] + table[pairs.clamp(min=0)] * (pairs >= 0)[..., None]


@dataclass
class ModelOutput:
    logits: torch.Tensor | None  # [B, T, vocab]; None when the forward asked for the loss only
    emotion_logits: torch.Tensor  # [B, T, n_emotions]
    loss: torch.Tensor | None = None  # masked LM cross-entropy when targets are given


class KVCache:
    """Pre-allocated keys/values for every layer, so incremental decoding never re-allocates."""

    def __init__(self, config: ModelConfig, batch_size: int, max_len: int, *, dtype: torch.dtype,
                 device: torch.device) -> None:
        if max_len > config.block_size:
            raise ValueError(f"max_len={max_len} exceeds the model's block_size={config.block_size}")
        shape = (config.n_layer, batch_size, config.n_head, max_len, config.head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0  # tokens already cached (identical across layers between forward calls)

    @property
    def max_len(self) -> int:
        return self.keys.shape[3]

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new tokens' k/v for ``layer``; return all cached k/v including them."""
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} tokens > max_len={self.max_len}")
        self.keys[layer, :, :, self.length:end] = k
        self.values[layer, :, :, self.length:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def take_row(self, source: KVCache, row: int, length: int) -> None:
        """Become sequence ``row`` of ``source``'s first ``length`` tokens (an empty batch-1 cache
        taking its share of a batched prefill, :meth:`model.batching.StepBatcher.prefill`)."""
        if self.length or self.batch_size != 1 or length > self.max_len:
            raise ValueError(f"take_row needs an empty batch-1 cache of at least {length} tokens")
        self.keys[:, 0, :, :length] = source.keys[:, row, :, :length]
        self.values[:, 0, :, :length] = source.values[:, row, :, :length]
        self.length = length

    def crop(self, length: int) -> None:
        """Forget everything after ``length`` tokens (e.g. to rewind a rejected continuation)."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot crop a cache of {self.length} tokens to {length}")
        self.length = length


def attend(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention of ``q`` over cached keys/values in the cache's dtype (fp32 caches serve bf16
    models on CPUs whose bf16 attention is slow, :meth:`RosieGPT.new_kv_cache`); out in q's dtype."""
    return F.scaled_dot_product_attention(q.to(keys.dtype), keys, values, attn_mask=mask).to(q.dtype)


class Rotary(nn.Module):
    """Rotary position embedding (RoFormer; GPT-NeoX's half-split layout): the query and key of a
    token at position p are rotated by angles p * theta_i, so attention scores depend on relative
    distance. The cos/sin tables are computed, not learned, and stay out of the state_dict."""

    def __init__(self, head_dim: int, max_len: int, base: float = 10_000.0) -> None:
        super().__init__()
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``x`` [B, heads, T, head_dim] rotated by ``positions``: [T] shared, or [B, T] per sequence."""
        cos, sin = self.cos[positions].to(x.dtype), self.sin[positions].to(x.dtype)
        if positions.dim() == 2:  # per sequence: [B, 1, T, half]
            cos, sin = cos[:, None], sin[:, None]
        first, second = x.chunk(2, dim=-1)
        return torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)
        self.rotary = Rotary(config.head_dim, config.block_size) if config.rotary else None
        self.q_norm = nn.LayerNorm(config.head_dim) if config.qk_norm else None
        self.k_norm = nn.LayerNorm(config.head_dim) if config.qk_norm else None

    def _heads(
        self, x: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v [B, heads, T, head_dim] of ``x`` [B, T, width] at ``positions`` ([T] or [B, T])."""
        batch, seq, width = x.shape
        q, k, v = (t.view(batch, seq, self.n_head, -1).transpose(1, 2) for t in self.qkv(x).split(width, 2))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rotary is not None:
            q, k = self.rotary(q, positions), self.rotary(k, positions)
        return q, k, v

    def decode(self, x: torch.Tensor, caches: list[KVCache], layer: int) -> torch.Tensor:
        """One new token per sequence, ``x`` [B, 1, width], each sequence with its own cache: the
        projections run batched (one read of the weights), attention per sequence over its keys."""
        positions = torch.tensor([[cache.length] for cache in caches], device=x.device)
        q, k, v = self._heads(x, positions)
        y = torch.cat(
            [
                attend(q[i : i + 1], *cache.update(layer, k[i : i + 1], v[i : i + 1]))
                for i, cache in enumerate(caches)
            ]
        )
        return self.proj(y.transpose(1, 2).reshape(x.shape))

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None, layer: int) -> torch.Tensor:
        batch, seq, width = x.shape
        past = kv_cache.length if kv_cache is not None else 0
        q, k, v = self._heads(x, torch.arange(past, past + seq, device=x.device))
        dropout_p = self.dropout if self.training else 0.0
        if kv_cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout_p)
        elif past == 0:  # prefill into an empty cache: causal attention over the new keys themselves
            kv_cache.update(layer, k, v)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=seq > 1, dropout_p=dropout_p)
        else:
            # new token i sits at absolute position past+i and may see keys 0..past+i
            mask = None
            if seq > 1:
                mask = torch.ones(seq, past + seq, dtype=torch.bool, device=x.device).tril(past)
            y = attend(q, *kv_cache.update(layer, k, v), mask)
        y = y.transpose(1, 2).contiguous().view(batch, seq, width)
        return self.resid_dropout(self.proj(y))


class MemoryCrossAttention(nn.Module):
    """Gated attention from the sequence to external memory vectors (embeddings of past conversations).

    The gate is a scalar initialised to 0 and applied as ``tanh(gate)``: a fresh model's output is
    bit-for-bit the output without memory, and training opens the gate only as far as memory helps.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.ln = nn.LayerNorm(config.n_embd)
        self.q = nn.Linear(config.n_embd, config.n_embd)
        self.kv = nn.Linear(config.n_embd, 2 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None) -> torch.Tensor:
        if memory is None:
            return x
        batch, seq, width = x.shape
        q = self.q(self.ln(x)).view(batch, seq, self.n_head, -1).transpose(1, 2)
        k, v = (t.view(batch, memory.shape[1], self.n_head, -1).transpose(1, 2)
                for t in self.kv(memory).split(width, 2))
        y = F.scaled_dot_product_attention(q, k, v)  # every position may read every memory slot
        y = y.transpose(1, 2).contiguous().view(batch, seq, width)
        return x + torch.tanh(self.gate) * self.proj(y)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, config: ModelConfig, with_memory: bool) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.memory_attn = MemoryCrossAttention(config) if with_memory else None
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None, kv_cache: KVCache | None,
                layer: int) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), kv_cache, layer)
        if self.memory_attn is not None:
            x = self.memory_attn(x, memory)
        return x + self.mlp(self.ln2(x))

    def decode(self, x: torch.Tensor, memories: list[torch.Tensor | None], caches: list[KVCache],
               layer: int) -> torch.Tensor:
        """:meth:`forward` for one new token of each of B sequences (``x`` [B, 1, width])."""
        x = x + self.attn.decode(self.ln1(x), caches, layer)
        if self.memory_attn is not None and any(m is not None for m in memories):
            x = torch.cat([self.memory_attn(x[i : i + 1], m) for i, m in enumerate(memories)])
        return x + self.mlp(self.ln2(x))


class RosieGPT(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        memory_layers = set(config.memory_layers())
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = None if config.rotary else nn.Embedding(config.block_size, config.n_embd)
        self.persona_emb = nn.Embedding(config.n_personas, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, i in memory_layers) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.emotion_head = nn.Linear(config.n_embd, config.n_emotions)
        self.apply(self._init_weights)
        if config.emotion_lexicon_buckets:
            rows = config.vocab_size + config.emotion_lexicon_buckets
            self.register_buffer("emotion_lexicon", torch.zeros(rows, config.n_emotions))
        # GPT-2: scale residual projections by 1/sqrt(2 * n_layer) so the residual stream stays O(1)
        for name, param in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_kv_cache(self, batch_size: int, max_len: int | None = None,
                     dtype: torch.dtype | None = None) -> KVCache:
        """An empty cache in ``dtype`` (default: the weights'); attention over it runs in that dtype."""
        weight = self.tok_emb.weight
        return KVCache(self.config, batch_size, max_len or self.config.block_size,
                       dtype=dtype or weight.dtype, device=weight.device)

    def hidden_states(self, idx: torch.Tensor, *, persona_ids: torch.Tensor | None = None,
                      memory: torch.Tensor | None = None, kv_cache: KVCache | None = None) -> torch.Tensor:
        """Final (post-LayerNorm) hidden states [B, T, n_embd]; advances ``kv_cache`` by T."""
        batch, seq = idx.shape
        start = kv_cache.length if kv_cache is not None else 0
        if start + seq > self.config.block_size:
            raise ValueError(f"sequence of {start + seq} tokens exceeds block_size={self.config.block_size}")
        if persona_ids is None:
            persona_ids = torch.zeros(batch, dtype=torch.long, device=idx.device)  # persona 0 is Rosie
        x = self.tok_emb(idx) + self.persona_emb(persona_ids)[:, None, :]
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(start, start + seq, device=idx.device))
        x = self.drop(x)
        use_checkpointing = self.config.gradient_checkpointing and self.training and kv_cache is None
        for layer, block in enumerate(self.blocks):
            if use_checkpointing:
                x = checkpoint(block, x, memory, None, layer, use_reentrant=False)
            else:
                x = block(x, memory, kv_cache, layer)
        if kv_cache is not None:
            kv_cache.length += seq
        return self.ln_f(x)

    def decode_step(self, tokens: torch.Tensor, caches: list[KVCache], persona_ids: torch.Tensor,
                    memories: list[torch.Tensor | None]) -> torch.Tensor:
        """One token for each of B conversations at once, each with its own cache and position:
        final hidden states [B, n_embd]; advances every cache by one. Continuous batching's step."""
        positions = torch.tensor([cache.length for cache in caches], device=tokens.device)
        if int(positions.max()) >= self.config.block_size:
            raise ValueError(f"a sequence would exceed block_size={self.config.block_size}")
        x = self.tok_emb(tokens) + self.persona_emb(persona_ids)
        if self.pos_emb is not None:
            x = x + self.pos_emb(positions)
        x = x[:, None, :]
        for layer, block in enumerate(self.blocks):
            x = block.decode(x, memories, caches, layer)
        for cache in caches:
            cache.length += 1
        return self.ln_f(x)[:, 0]

    def forward(self, idx: torch.Tensor, *, persona_ids: torch.Tensor | None = None,
                memory: torch.Tensor | None = None, kv_cache: KVCache | None = None,
                targets: torch.Tensor | None = None, loss_mask: torch.Tensor | None = None,
                full_logits: bool = True) -> ModelOutput:
        """Logits for every position.

        ``targets[b, t]`` is the token after ``idx[b, t]`` (-100 = ignore); ``loss_mask`` (same shape,
        aligned with ``targets``) zeroes positions out of the loss. ``full_logits=False`` (training)
        runs the vocabulary-wide LM head only at the trained positions and returns no logits: chat
        data trains Rosie's turns only, so most positions would be computed for nothing.
        """
        h = self.hidden_states(idx, persona_ids=persona_ids, memory=memory, kv_cache=kv_cache)
        emotion_logits = self.emotion_logits(h, idx)
        if targets is not None and loss_mask is not None:
            targets = targets.masked_fill(loss_mask == 0, -100)
        if targets is not None and not full_logits:
            trained = targets != -100
            loss = masked_cross_entropy(F.linear(h[trained], self.tok_emb.weight), targets[trained])
            return ModelOutput(logits=None, emotion_logits=emotion_logits, loss=loss)
        logits = F.linear(h, self.tok_emb.weight)  # tied input/output embedding
        loss = masked_cross_entropy(logits, targets) if targets is not None else None
        return ModelOutput(logits=logits, emotion_logits=emotion_logits, loss=loss)

    def emotion_logits(self, h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The emotion head at every position [B, T, n_emotions] from the final hidden states ``h``
        of the tokens ``idx``; a turn's reading is at its ``<|end|>``, and ``idx`` must hold that
        whole turn (the pooling starts at the turn's role token)."""
        logits = self.emotion_head(turn_means(h, idx) if self.config.emotion_pooling == "turn_mean" else h)
        if self.config.emotion_lexicon_buckets:
            words = lexicon_features(self.emotion_lexicon.float(), idx, self.config.vocab_size)
            logits = logits + turn_means(words, idx).to(logits.dtype)
        return logits

    def embed(self, idx: torch.Tensor, *, persona_ids: torch.Tensor | None = None) -> torch.Tensor:
        """One vector per sequence [B, n_embd]: the mean final hidden state (a memory of that text)."""
        return self.hidden_states(idx, persona_ids=persona_ids).mean(dim=1)


def turn_means(h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """At each position, the mean of ``h`` [B, T, C] over the turn so far: from the last turn start
    (:data:`TURN_START_IDS`) in ``idx`` up to and including that position (from position 0 when
    none comes before). Causal, as the head must be; summed in fp32."""
    batch, seq, width = h.shape
    positions = torch.arange(seq, device=h.device).expand(batch, seq)
    start = turn_start_positions(turn_starts(idx))
    sums = F.pad(h.float().cumsum(dim=1), (0, 0, 1, 0))
    before = sums.gather(1, start[..., None].expand(batch, seq, width))
    return ((sums[:, 1:] - before) / (positions - start + 1)[..., None]).to(h.dtype)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100,
                         class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy over non-ignored targets (weighted by ``class_weights`` when given);
    exactly 0 (not NaN) when every target is ignored."""
    flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    if not (flat_targets != ignore_index).any():
        return flat_logits.sum() * 0.0  # keeps the graph connected for backward
    weight = class_weights.to(flat_logits) if class_weights is not None else None
    return F.cross_entropy(flat_logits, flat_targets, weight=weight, ignore_index=ignore_index)


def emotion_loss(
    emotion_logits: torch.Tensor, emotion_targets: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of the emotion head at labelled positions (``emotion_targets`` is -1 elsewhere),
    each label weighted by ``class_weights`` when given (a weighted mean)."""
    return masked_cross_entropy(emotion_logits, emotion_targets, ignore_index=-1, class_weights=class_weights)


def balanced_class_weights(counts: Sequence[int]) -> torch.Tensor:
    """scikit-learn's ``class_weight="balanced"``: n / (classes * n_c), so every label present weighs
    as much in the loss as it does in macro-F1 (the TF-IDF baseline is fitted the same way);
    labels never seen get weight 1."""
    counts_t = torch.as_tensor(counts, dtype=torch.float32)
    present = counts_t > 0
    weights = torch.ones_like(counts_t)
    weights[present] = counts_t.sum() / (int(present.sum()) * counts_t[present])
    return weights
