"""Tests for labkit.attention: every variant against a naive einsum-softmax reference, the causal mask,
the token masks, and the FLOP model against torch.utils.flop_counter."""

import math

import pytest
import torch

from labkit import attention as A

SHAPES = [(1, 3, 4, 2, 2, 2), (2, 5, 8, 3, 4, 1), (1, 4, 12, 5, 3, 3), (2, 2, 16, 4, 4, 4)]  # b f c h w heads


def _qkv(b, f, c, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, f, c, h, w, generator=g) for _ in range(3)]


def _loop_reference(q, k, v, heads, variant, causal):
    """An independent reference written with explicit loops over queries (no token_mask, no rearrange)."""
    b, f, c, h, w = q.shape
    d = c // heads
    out = torch.zeros_like(q)
    for n in range(heads):
        ch = slice(n * d, (n + 1) * d)
        for fi in range(f):
            for yi in range(h):
                for xi in range(w):
                    keys = [(fj, yj, xj) for fj in range(f) for yj in range(h) for xj in range(w)
                            if (variant == "joint" or (variant == "spatial" and fj == fi)
                                or (variant == "temporal" and (yj, xj) == (yi, xi)))
                            and (not causal or fj <= fi)]
                    kk = torch.stack([k[:, fj, ch, yj, xj] for fj, yj, xj in keys], 1)  # (b, S, d)
                    vv = torch.stack([v[:, fj, ch, yj, xj] for fj, yj, xj in keys], 1)
                    s = torch.einsum("bd,bsd->bs", q[:, fi, ch, yi, xi], kk) / math.sqrt(d)
                    out[:, fi, ch, yi, xi] = torch.einsum("bs,bsd->bd", s.softmax(-1), vv)
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant,causal", [("spatial", False), ("temporal", False), ("temporal", True),
                                            ("joint", False), ("joint", True)])
def test_variants_match_naive_reference(shape, variant, causal):
    *dims, heads = shape
    q, k, v = _qkv(*dims, seed=sum(dims))
    got = A.attend(q, k, v, heads, variant, causal)
    assert got.shape == q.shape
    torch.testing.assert_close(got, A.reference_attention(q, k, v, heads, variant, causal), atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant,causal", [("spatial", False), ("temporal", True), ("joint", False)])
def test_reference_matches_loop_reference(variant, causal):
    q, k, v = _qkv(1, 3, 4, 2, 3)
    torch.testing.assert_close(A.reference_attention(q, k, v, 2, variant, causal),
                               _loop_reference(q, k, v, 2, variant, causal), atol=1e-5, rtol=0)


def test_wrappers_are_the_variants():
    q, k, v = _qkv(1, 4, 8, 3, 3)
    torch.testing.assert_close(A.spatial_attention(q, k, v, 2), A.attend(q, k, v, 2, "spatial"))
    torch.testing.assert_close(A.temporal_attention(q, k, v, 2, True), A.attend(q, k, v, 2, "temporal", True))
    torch.testing.assert_close(A.joint_attention(q, k, v, 2), A.attend(q, k, v, 2, "joint"))


@pytest.mark.parametrize("variant", ["temporal", "joint"])
def test_causal_mask_blocks_the_future(variant):
    q, k, v = _qkv(1, 6, 8, 3, 3, seed=1)
    k2, v2 = k.clone(), v.clone()
    k2[:, 4:] += 3.0 * torch.randn_like(k2[:, 4:])  # change frames 4 and 5 only
    v2[:, 4:] += 3.0
    before = A.attend(q, k, v, 2, variant, causal=True)
    after = A.attend(q, k2, v2, 2, variant, causal=True)
    assert torch.equal(before[:, :4], after[:, :4])  # earlier frames: bit-identical
    assert (before[:, 4:] - after[:, 4:]).abs().max() > 0.1
    # without the mask the same change reaches the past: the test above can fail
    leaked = A.attend(q, k, v, 2, variant) - A.attend(q, k2, v2, 2, variant)
    assert leaked[:, :4].abs().max() > 0.1


def test_factorised_block_causal_and_shape():
    torch.manual_seed(0)
    block = A.FactorisedBlock(8, 2, causal=True).eval()
    x = torch.randn(2, 5, 8, 3, 3)
    y = block(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[:, 3:] = torch.randn_like(x2[:, 3:])
    torch.testing.assert_close(block(x2)[:, :3], y[:, :3], atol=1e-6, rtol=0)
    assert (block(x2)[:, 3:] - y[:, 3:]).abs().max() > 1e-2


def test_token_mask_counts():
    f, h, w = 3, 2, 4
    n = f * h * w
    assert A.token_mask("spatial", f, h, w).sum() == f * (h * w) ** 2
    assert A.token_mask("temporal", f, h, w).sum() == h * w * f * f
    assert A.token_mask("joint", f, h, w).sum() == n * n
    assert A.token_mask("temporal", f, h, w, causal=True).sum() == h * w * f * (f + 1) // 2
    assert A.token_mask("joint", f, h, w, causal=True).sum() == (h * w) ** 2 * f * (f + 1) // 2


@pytest.mark.parametrize("variant", ["spatial", "temporal", "joint", "factorised"])
@pytest.mark.parametrize("dims", [(4, 6, 5, 2, 8), (9, 3, 7, 4, 16), (16, 4, 4, 1, 32)])
def test_flop_model_matches_flop_counter(variant, dims):
    f, h, w, heads, d = dims
    modelled = A.attention_cost(variant, f, h, w, heads, d).flops
    counted = A.measured_flops(variant, f, h, w, heads, d)
    assert counted > 0
    assert abs(modelled - counted) <= 0.05 * counted


def test_cost_growth_and_memory():
    small = A.attention_cost("joint", 8, 16, 16, 2, 32)
    assert A.attention_cost("joint", 16, 16, 16, 2, 32).flops == 4 * small.flops  # ~F^2
    assert A.attention_cost("temporal", 16, 16, 16, 2, 32).flops == 4 * A.attention_cost("temporal", 8, 16, 16, 2, 32).flops
    assert A.attention_cost("spatial", 16, 16, 16, 2, 32).flops == 2 * A.attention_cost("spatial", 8, 16, 16, 2, 32).flops
    assert small.matrix_bytes == 2 * (8 * 16 * 16) ** 2 * 2  # heads * N^2 * fp16
    cog = A.attention_cost("joint", **A.PRODUCTION_PRESETS["CogVideoX-5B 49x480x720"])
    assert cog.seq_len == 13 * 30 * 45
    assert 25 < cog.matrix_gib < 30  # 48 heads x 17550^2 x 2 bytes = 27.5 GiB per layer


def test_bad_inputs_raise_clear_errors():
    q, k, v = _qkv(1, 2, 6, 2, 2)
    with pytest.raises(ValueError, match="heads to divide"):
        A.attend(q, k, v, 4, "joint")
    with pytest.raises(ValueError, match=r"\(B, F, C, H, W\)"):
        A.attend(q[0], k[0], v[0], 2, "joint")
    with pytest.raises(ValueError, match="variant"):
        A.attend(q, k, v, 2, "diagonal")
    with pytest.raises(ValueError, match="spatial attention never crosses frames"):
        A.attend(q, k, v, 2, "spatial", causal=True)
    with pytest.raises(ValueError, match="num_frames: expected an integer >= 1, got 0"):
        A.attention_cost("joint", 0, 4, 4, 1, 8)


def test_measure_attention_reports_time_and_memory():
    m = A.measure_attention("joint", 4, 8, 8, 2, 16, backend="math", repeats=1)
    # the math backend materialises the (heads, N, N) float32 matrix: at least that much is allocated
    assert m.peak_bytes >= m.model.matrix_bytes
    assert A.cost_table(4, 8, 8, 2, 16)[-1]["variant"] == "joint"


def test_cost_curves_rows():
    rows = A.cost_curves([(2, 4, 4), (4, 4, 4)], heads=1, head_dim=8, repeats=1)
    variants = ("spatial", "temporal", "factorised", "joint")
    assert [(r["variant"], r["F"]) for r in rows] == [(v, f) for v in variants for f in (2, 4)]
    for r in rows:
        assert r["tokens"] == r["F"] * r["H"] * r["W"]
        assert r["flops"] == A.attention_cost(r["variant"], r["F"], r["H"], r["W"], 1, 8).flops
        assert r["peak_bytes"] >= r["tokens"] * 8 * 4  # the float32 output (a head_dim vector per token) is new
    # modelled time = FLOPs / the throughput measured on the largest joint grid (the last row)
    anchor = rows[-1]
    for r in rows:
        assert r["modelled_seconds"] == pytest.approx(r["flops"] * anchor["seconds"] / anchor["flops"], rel=1e-9)
