"""A TinyLlama-style decoder in plain PyTorch: pre-norm RMSNorm, rotary positions, SwiGLU, SDPA.

Attention takes an explicit boolean mask (True = may attend) and explicit position ids, because
the action-set prompt is a *set*: its tokens share one position and see each other in both
directions, while the history after it is causal. ``KVCache`` lets a policy add a few tokens at a
time without recomputing the past.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(variance + self.eps)).type_as(x) * self.weight


def rotary_tables(positions: torch.Tensor, head_dim: int, base: float = 10_000.0):
    """cos and sin of shape (B, 1, L, head_dim / 2) for integer positions (B, L)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    angles = positions.float()[..., None] * inv_freq
    return angles.cos()[:, None], angles.sin()[:, None]


def apply_rotary(x, cos, sin):
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class KVCache:
    """Per-layer keys and values, preallocated for ``capacity`` tokens, plus which keys are real.

    Every sequence of the batch holds the same number of tokens; padding (an unused prompt slot)
    is a key that ``key_valid`` hides from attention.
    """

    def __init__(self, num_layers, batch, heads, head_dim, capacity, device, dtype):
        shape = (batch, heads, capacity, head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(num_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(num_layers)]
        self.key_valid = torch.zeros(batch, capacity, dtype=torch.bool, device=device)
        self.length = 0
        self.capacity = capacity

    def reserve(self, n: int, valid: torch.Tensor) -> slice:
        if self.length + n > self.capacity:
            raise RuntimeError(f"KV cache overflow: {self.length} + {n} tokens > capacity {self.capacity}")
        sl = slice(self.length, self.length + n)
        self.key_valid[:, sl] = valid
        self.length += n
        return sl

    def truncate(self, n: int) -> None:
        """Forget every token after the first ``n`` (their slots are overwritten by later ones)."""
        if not 0 <= n <= self.length:
            raise ValueError(f"cannot truncate a cache of {self.length} tokens to {n}")
        self.length = n


class Attention(nn.Module):
    def __init__(self, d_model, num_heads, attn_dropout, dropout):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.attn_dropout = attn_dropout
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x, cos, sin, mask, cache: KVCache | None = None, layer: int = 0, slot: slice | None = None):
        B, L, _ = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            cache.keys[layer][:, :, slot] = k
            cache.values[layer][:, :, slot] = v
            k = cache.keys[layer][:, :, : slot.stop]
            v = cache.values[layer][:, :, : slot.stop]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, L, -1)))


class SwiGLU(nn.Module):
    def __init__(self, d_model, dropout):
        super().__init__()
        hidden = 64 * math.ceil(8 * d_model / 3 / 64)
        self.gate_up = nn.Linear(d_model, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.dropout(self.down(F.silu(gate) * up))


class Block(nn.Module):
    def __init__(self, d_model, num_heads, dropout, attn_dropout):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(d_model), RMSNorm(d_model)
        self.attn = Attention(d_model, num_heads, attn_dropout, dropout)
        self.mlp = SwiGLU(d_model, dropout)

    def forward(self, x, cos, sin, mask, cache=None, layer=0, slot=None):
        x = x + self.attn(self.norm1(x), cos, sin, mask, cache, layer, slot)
        return x + self.mlp(self.norm2(x))


class Decoder(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, dropout=0.0, attn_dropout=0.0):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, num_heads, dropout, attn_dropout) for _ in range(num_layers))
        self.norm = RMSNorm(d_model)
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, x, positions, mask, cache: KVCache | None = None):
        """x (B, L, d); positions (B, L); mask (B, 1, L, keys) boolean. With ``cache``, the L new
        tokens are appended to it (call ``cache.reserve`` first) and attend to everything cached."""
        cos, sin = rotary_tables(positions, self.head_dim)
        slot = slice(cache.length - x.shape[1], cache.length) if cache is not None else None
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, mask, cache, i, slot)
        return self.norm(x)

    def new_cache(self, batch, capacity, device, dtype) -> KVCache:
        return KVCache(len(self.blocks), batch, self.num_heads, self.head_dim, capacity, device, dtype)
