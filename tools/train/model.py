"""The `llama` architecture as llama.cpp runs it: RMSNorm (eps 1e-5), RoPE
rotating adjacent pairs (2i, 2i+1) with base 10000, SwiGLU feed-forward, no
biases, embeddings tied to the output. Weights export to GGUF unchanged
(no Q/K permutation is needed because the rotation already pairs the way
llama.cpp's GGUF layout expects)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    # ~0.73M parameters
    "slm": dict(dim=128, layers=3, heads=4, ff=352),
    # ~5.1M parameters
    "llm": dict(dim=256, layers=6, heads=8, ff=704),
}
NORM_EPS = 1e-5
ROPE_BASE = 10000.0


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS)
        return x * self.weight


def rope_tables(seq, head_dim, device=None):
    inv = ROPE_BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = torch.arange(seq, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope(x, cos, sin):
    """x: [batch, heads, seq, head_dim]; rotates (x[2i], x[2i+1])."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, dim, heads, ff):
        super().__init__()
        self.heads = heads
        self.attn_norm = RMSNorm(dim)
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.ffn_norm = RMSNorm(dim)
        self.w_gate = nn.Linear(dim, ff, bias=False)
        self.w_up = nn.Linear(dim, ff, bias=False)
        self.w_down = nn.Linear(ff, dim, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, d = x.shape
        hd = d // self.heads
        h = self.attn_norm(x)
        q = self.wq(h).view(b, t, self.heads, hd).transpose(1, 2)
        k = self.wk(h).view(b, t, self.heads, hd).transpose(1, 2)
        v = self.wv(h).view(b, t, self.heads, hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd) + mask
        y = F.softmax(att, dim=-1) @ v
        x = x + self.wo(y.transpose(1, 2).reshape(b, t, d))
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Llama(nn.Module):
    def __init__(self, vocab, dim, layers, heads, ff):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.tok = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, ff) for _ in range(layers))
        self.norm = RMSNorm(dim)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith("wo.weight") or name.endswith("w_down.weight"):
                    std /= math.sqrt(2 * layers)
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        t = idx.shape[1]
        cos, sin = rope_tables(t, self.dim // self.heads)
        cos, sin = cos.to(idx.device), sin.to(idx.device)
        mask = torch.full((t, t), float("-inf"), device=idx.device).triu(1)
        x = self.tok(idx)
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.norm(x) @ self.tok.weight.T


def build(name, vocab):
    return Llama(vocab, **CONFIGS[name])
