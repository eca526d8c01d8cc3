"""Spatial, temporal and joint space-time attention, the causal temporal mask, and what each costs.

Taught in ``02_temporal_attention``.

Every variant is ordinary scaled-dot-product attention (``torch.nn.functional.scaled_dot_product_attention``,
Vaswani et al. 2017) over a different *grouping* of the ``F * H * W`` tokens of a feature video
``(B, F, C, H, W)``. The einops patterns are the shape documentation:

==========  ===============================================  =====================  =============================
variant     tokens per sequence (pattern)                     sequences              used by
==========  ===============================================  =====================  =============================
spatial     ``b f (n d) h w -> (b f) n (h w) d``              ``B * F``              every image model, per frame
temporal    ``b f (n d) h w -> (b h w) n f d``                ``B * H * W``          SVD, AnimateDiff, TimeSformer
joint       ``b f (n d) h w -> b n (f h w) d``                ``B``                  CogVideoX, Sora-style DiTs
==========  ===============================================  =====================  =============================

(``n`` heads of ``d`` channels, ``C = n * d``.) A factorised block (spatial then temporal) couples every token to
every other in two hops for ``O(F (HW)^2 + HW F^2)`` work; joint attention does it in one hop for ``O((F HW)^2)``.
``causal=True`` lets a token see only its own and earlier frames (streaming / autoregressive video).

Every variant is also *joint attention with a mask* (:func:`token_mask`); :func:`reference_attention` computes
exactly that with an explicit einsum and softmax, which the tests compare against.

The cost model (:func:`attention_cost`) counts the two matmuls of attention, ``Q K^T`` and ``A V``:
``4 * sequences * heads * S_q * S_k * head_dim`` FLOPs (a multiply-add is 2 FLOPs, as
``torch.utils.flop_counter`` counts them), and the memory of the attention matrix a naive implementation stores:
``sequences * heads * S_q * S_k * bytes``. :func:`measure_attention` times a variant and records its peak memory.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as Fn
from einops import rearrange
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from labkit.checks import check_args, check_choice
from labkit.profiling import PeakAllocated, torch_threads

__all__ = ["VARIANTS", "PATTERNS", "attend", "spatial_attention", "temporal_attention", "joint_attention",
           "token_mask", "reference_attention", "SpaceTimeAttention", "FactorisedBlock",
           "AttentionCost", "attention_cost", "PRODUCTION_PRESETS", "cost_table", "measured_flops",
           "Measurement", "measure_attention", "cost_curves"]


VARIANTS = ("spatial", "temporal", "joint")


#: ``variant -> (pattern in, pattern out)``; ``n`` = heads, ``d`` = head dim.
PATTERNS = {
    "spatial": ("b f (n d) h w -> (b f) n (h w) d", "(b f) n (h w) d -> b f (n d) h w"),
    "temporal": ("b f (n d) h w -> (b h w) n f d", "(b h w) n f d -> b f (n d) h w"),
    "joint": ("b f (n d) h w -> b n (f h w) d", "b n (f h w) d -> b f (n d) h w"),
}


def _check_qkv(q, k, v, heads: int) -> tuple[int, int, int, int, int]:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.ndim != 5:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"expected {name} as features of shape (B, F, C, H, W), got {shape}")
    if q.shape != k.shape or q.shape != v.shape:
        raise ValueError(f"expected q, k, v of one shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if not isinstance(heads, int) or heads < 1 or q.shape[2] % heads:
        raise ValueError(f"expected heads to divide the channels C={q.shape[2]}, got heads={heads!r}")
    return tuple(q.shape)


def _causal_frames(num_frames: int, tokens_per_frame: int, device) -> torch.Tensor:
    """Boolean ``(S, S)`` mask over ``(f h w)``-ordered tokens: True where key frame <= query frame."""
    frame = torch.arange(num_frames, device=device).repeat_interleave(tokens_per_frame)
    return frame[None, :] <= frame[:, None]


def attend(q, k, v, heads: int, variant: str, causal: bool = False) -> torch.Tensor:
    """Multi-head attention of one ``variant`` over features ``(B, F, C, H, W)`` -> ``(B, F, C, H, W)``.

    ``q, k, v`` are already projected. ``causal`` (temporal and joint only): a query in frame ``i`` sees key
    frames ``<= i``. Uses SDPA, so the kernel (flash / math) is PyTorch's choice.
    """
    if variant not in VARIANTS:
        raise ValueError(f"expected variant in {VARIANTS}, got {variant!r}")
    b, f, c, h, w = _check_qkv(q, k, v, heads)
    if causal and variant == "spatial":
        raise ValueError("causal=True masks frames; spatial attention never crosses frames (use temporal or joint)")
    pattern_in, pattern_out = PATTERNS[variant]
    # contiguous: a strided view makes SDPA on the CPU fall back to the slow math kernel (~7x slower here)
    q, k, v = (rearrange(t, pattern_in, n=heads).contiguous() for t in (q, k, v))
    mask = None
    if causal and variant == "joint":
        mask = _causal_frames(f, h * w, q.device)  # block-causal: whole frames at a time
    out = Fn.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and variant == "temporal")
    return rearrange(out, pattern_out, b=b, f=f, h=h, w=w)


def spatial_attention(q, k, v, heads: int = 1) -> torch.Tensor:
    """Each frame attends within itself: ``(B, F, C, H, W)`` -> same; ``B*F`` sequences of ``H*W`` tokens."""
    return attend(q, k, v, heads, "spatial")


def temporal_attention(q, k, v, heads: int = 1, causal: bool = False) -> torch.Tensor:
    """Each pixel attends to the same pixel in the other frames: ``B*H*W`` sequences of ``F`` tokens."""
    return attend(q, k, v, heads, "temporal", causal)


def joint_attention(q, k, v, heads: int = 1, causal: bool = False) -> torch.Tensor:
    """Every token attends to every token of the clip: ``B`` sequences of ``F*H*W`` tokens."""
    return attend(q, k, v, heads, "joint", causal)


def token_mask(variant: str, num_frames: int, height: int, width: int, causal: bool = False) -> torch.Tensor:
    """Which token may attend to which, as a boolean ``(N, N)`` matrix over ``N = F*H*W`` tokens in
    ``(f h w)`` order (row = query, column = key). The picture of a variant in the token diagrams."""
    check_choice(variant, "variant", VARIANTS, what="variant")
    check_args(num_frames=num_frames, height=height, width=width)
    f, y, x = torch.meshgrid(torch.arange(num_frames), torch.arange(height), torch.arange(width), indexing="ij")
    f, pixel = f.flatten(), (y * width + x).flatten()
    if variant == "spatial":
        mask = f[:, None] == f[None, :]
    elif variant == "temporal":
        mask = pixel[:, None] == pixel[None, :]
    else:
        mask = torch.ones(f.numel(), f.numel(), dtype=torch.bool)
    if causal:
        mask = mask & (f[None, :] <= f[:, None])
    return mask


def reference_attention(q, k, v, heads: int, variant: str, causal: bool = False) -> torch.Tensor:
    """Naive reference: joint attention over all ``F*H*W`` tokens with :func:`token_mask`, written out as
    ``softmax(Q K^T / sqrt(d) masked) V`` with einsum. ``O(N^2)`` memory: for small tests only."""
    b, f, c, h, w = _check_qkv(q, k, v, heads)
    q, k, v = (rearrange(t, "b f (n d) h w -> b n (f h w) d", n=heads) for t in (q, k, v))
    scores = torch.einsum("bnqd,bnkd->bnqk", q, k) / (c // heads) ** 0.5
    scores = scores.masked_fill(~token_mask(variant, f, h, w, causal), float("-inf"))
    out = torch.einsum("bnqk,bnkd->bnqd", scores.softmax(dim=-1), v)
    return rearrange(out, "b n (f h w) d -> b f (n d) h w", f=f, h=h, w=w)


class SpaceTimeAttention(torch.nn.Module):
    """Self-attention with learned projections over features ``(B, F, C, H, W)`` for one variant."""

    def __init__(self, dim: int, heads: int, variant: str, causal: bool = False):
        super().__init__()
        if variant not in VARIANTS or dim % heads:
            raise ValueError(f"expected variant in {VARIANTS} and heads dividing dim, got {variant!r}, {dim}/{heads}")
        self.heads, self.variant, self.causal = heads, variant, causal
        self.to_qkv = torch.nn.Conv3d(dim, 3 * dim, 1, bias=False)  # a per-token linear layer
        self.to_out = torch.nn.Conv3d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self.to_qkv(rearrange(x, "b f c h w -> b c f h w"))
        q, k, v = (rearrange(t, "b c f h w -> b f c h w") for t in qkv.chunk(3, dim=1))
        out = attend(q, k, v, self.heads, self.variant, self.causal)
        return rearrange(self.to_out(rearrange(out, "b f c h w -> b c f h w")), "b c f h w -> b f c h w")


class FactorisedBlock(torch.nn.Module):
    """Spatial then temporal attention, each pre-normed with a residual (TimeSformer's "divided" block,
    the attention skeleton of SVD and AnimateDiff). ``(B, F, C, H, W)`` -> same."""

    def __init__(self, dim: int, heads: int, causal: bool = False):
        super().__init__()
        self.norm_s, self.norm_t = torch.nn.GroupNorm(1, dim), torch.nn.GroupNorm(1, dim)
        self.spatial = SpaceTimeAttention(dim, heads, "spatial")
        self.temporal = SpaceTimeAttention(dim, heads, "temporal", causal)

    def _norm(self, norm, x):
        return rearrange(norm(rearrange(x, "b f c h w -> (b f) c h w")), "(b f) c h w -> b f c h w", b=x.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.spatial(self._norm(self.norm_s, x))
        return x + self.temporal(self._norm(self.norm_t, x))


# ----------------------------------------------------------------------------------------------- cost model
@dataclass(frozen=True)
class AttentionCost:
    """Cost of one attention layer (core only: ``Q K^T`` and ``A V``, no projections)."""

    variant: str
    sequences: int  # independent attention problems (batch x heads not included)
    seq_len: int  # tokens per sequence
    flops: int  # 4 * sequences * heads * seq_len^2 * head_dim
    matrix_bytes: int  # sequences * heads * seq_len^2 * bytes_per_value

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def matrix_gib(self) -> float:
        return self.matrix_bytes / 2**30


def attention_cost(variant: str, num_frames: int, height: int, width: int, heads: int, head_dim: int,
                   batch: int = 1, bytes_per_value: int = 2) -> AttentionCost:
    """FLOPs and attention-matrix memory of one layer of ``variant`` (``"factorised"`` = spatial + temporal)
    on a ``num_frames x height x width`` token grid (latent/patch grid, not pixels).

    A causal mask does not change the count: SDPA computes the masked scores too (a kernel that skips them
    saves about half of temporal/joint work).
    """
    check_args(num_frames=num_frames, height=height, width=width, heads=heads, head_dim=head_dim, batch=batch,
              bytes_per_value=bytes_per_value)
    if variant == "factorised":
        s, t = (attention_cost(v, num_frames, height, width, heads, head_dim, batch, bytes_per_value)
                for v in ("spatial", "temporal"))
        return AttentionCost("factorised", s.sequences + t.sequences, max(s.seq_len, t.seq_len),
                             s.flops + t.flops, max(s.matrix_bytes, t.matrix_bytes))  # layers run one after another
    sequences, seq_len = {
        "spatial": (batch * num_frames, height * width),
        "temporal": (batch * height * width, num_frames),
        "joint": (batch, num_frames * height * width),
    }.get(variant, (None, None))
    if sequences is None:
        raise ValueError(f"expected variant in {VARIANTS + ('factorised',)}, got {variant!r}")
    pairs = sequences * heads * seq_len * seq_len
    return AttentionCost(variant, sequences, seq_len, 4 * pairs * head_dim, pairs * bytes_per_value)


#: Real production configurations, as token grids after the VAE and patchify (sources in the comments).
PRODUCTION_PRESETS: dict[str, dict] = {
    # SVD-XT: 25 frames at 576x1024, VAE /8 -> 72x128 latent; the temporal layers of the first UNet level see
    # that full grid with 320 channels = 5 heads of 64 (diffusers UNetSpatioTemporalConditionModel config).
    "SVD 576x1024x25 (first level)": dict(num_frames=25, height=72, width=128, heads=5, head_dim=64),
    # CogVideoX-5B: 49 frames at 480x720, 3D VAE /4 in time (+1) and /8 in space -> 13x60x90, patch 2x2 ->
    # 13x30x45 = 17,550 tokens (plus 226 text tokens, ignored here); 48 heads of 64 (diffusers config).
    "CogVideoX-5B 49x480x720": dict(num_frames=13, height=30, width=45, heads=48, head_dim=64),
    # the tiny models of this lesson: 8 frames of 16x16 latent-sized features
    "tiny (this lesson)": dict(num_frames=8, height=16, width=16, heads=2, head_dim=16),
}


def cost_table(num_frames: int, height: int, width: int, heads: int, head_dim: int,
               bytes_per_value: int = 2) -> list[dict]:
    """One row per variant (spatial, temporal, factorised, joint): tokens, GFLOPs, attention-matrix GiB."""
    rows = []
    for variant in ("spatial", "temporal", "factorised", "joint"):
        c = attention_cost(variant, num_frames, height, width, heads, head_dim, 1, bytes_per_value)
        rows.append({"variant": variant, "tokens/seq": c.seq_len, "sequences": c.sequences,
                     "GFLOPs": c.gflops, "attn matrix GiB": c.matrix_gib})
    return rows


# ----------------------------------------------------------------------------------------------- measuring
def _inputs(num_frames, height, width, heads, head_dim, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, num_frames, heads * head_dim, height, width)
    return [torch.randn(shape, generator=g) for _ in range(3)]


def measured_flops(variant: str, num_frames: int, height: int, width: int, heads: int, head_dim: int,
                   batch: int = 1, causal: bool = False) -> int:
    """FLOPs of one call counted by ``torch.utils.flop_counter.FlopCounterMode`` (math SDPA backend, whose
    matmuls the counter sees; the CPU flash kernel is not registered with it)."""
    check_args(num_frames=num_frames, height=height, width=width, heads=heads, head_dim=head_dim, batch=batch)
    q, k, v = _inputs(num_frames, height, width, heads, head_dim, batch)
    variants = ("spatial", "temporal") if variant == "factorised" else (variant,)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        for var in variants:
            attend(q, k, v, heads, var, causal and var != "spatial")
    return counter.get_total_flops()


@dataclass(frozen=True)
class Measurement:
    variant: str
    seconds: float  # median wall time of one call
    peak_bytes: int  # peak of memory allocated during the call, above what was allocated before it
    model: AttentionCost


def measure_attention(variant: str, num_frames: int, height: int, width: int, heads: int, head_dim: int,
                      batch: int = 1, repeats: int = 3, backend: str = "auto", device: str = "cpu",
                      threads: int | None = None) -> Measurement:
    """Time (median of ``repeats``) and peak memory of one call of ``variant`` in float32.

    ``backend``: ``"auto"`` (PyTorch picks, usually a flash kernel that never stores the matrix), ``"math"``
    (materialises the attention matrix, what the memory model counts) or ``"flash"``. ``threads``: CPU threads
    for the timing (``1`` gives stable timings on a busy shared machine; ``None`` leaves the setting). The peak
    is :class:`labkit.profiling.PeakAllocated` of one more call (on the CPU: one thread, whatever ``threads``).
    """
    check_args(num_frames=num_frames, height=height, width=width, heads=heads, head_dim=head_dim, batch=batch,
               repeats=repeats, threads=threads, allow_none=("threads",))
    if threads is not None:
        with torch_threads(threads):
            return measure_attention(variant, num_frames, height, width, heads, head_dim, batch, repeats, backend,
                                     device)

    backends = {"auto": None, "math": SDPBackend.MATH, "flash": SDPBackend.FLASH_ATTENTION}
    if backend not in backends:
        raise ValueError(f"expected backend in {list(backends)}, got {backend!r}")
    model = attention_cost(variant, num_frames, height, width, heads, head_dim, batch, bytes_per_value=4)
    q, k, v = (t.to(device) for t in _inputs(num_frames, height, width, heads, head_dim, batch))
    variants = ("spatial", "temporal") if variant == "factorised" else (variant,)

    def call():
        with torch.no_grad(), (sdpa_kernel(backends[backend]) if backends[backend] else nullcontext()):
            for var in variants:
                out = attend(q, k, v, heads, var)
        if device != "cpu":
            torch.cuda.synchronize()
        return out

    call()  # warm-up (thread pools, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    with PeakAllocated(device) as memory:
        call()
    return Measurement(variant, sorted(times)[len(times) // 2], memory.peak, model)


def cost_curves(grids: list[tuple[int, int, int]], heads: int = 2, head_dim: int = 32,
                variants=("spatial", "temporal", "factorised", "joint"), repeats: int = 3,
                threads: int | None = 1) -> list[dict]:
    """Measure every variant on every ``(F, H, W)`` grid: rows ``{variant, F, H, W, tokens, flops, seconds,
    peak_bytes, modelled_seconds}``. ``modelled_seconds`` = model FLOPs / the throughput (FLOP/s) measured on
    the largest joint run, so modelled and measured curves can share one plot."""
    check_args(heads=heads, head_dim=head_dim, repeats=repeats, threads=threads, allow_none=("threads",))
    for f, h, w in grids:  # every grid before the first measurement
        check_args(num_frames=f, height=h, width=w)
    rows = []
    for variant in tqdm(variants, desc="measure attention", leave=False):
        for f, h, w in grids:
            m = measure_attention(variant, f, h, w, heads, head_dim, repeats=repeats, threads=threads)
            rows.append({"variant": variant, "F": f, "H": h, "W": w, "tokens": f * h * w, "flops": m.model.flops,
                         "seconds": m.seconds, "peak_bytes": m.peak_bytes})
    ref = "joint" if "joint" in variants else variants[-1]
    joint = max((r for r in rows if r["variant"] == ref), key=lambda r: r["flops"])
    throughput = joint["flops"] / joint["seconds"]
    for r in rows:
        r["modelled_seconds"] = r["flops"] / throughput
    return rows
