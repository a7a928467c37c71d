"""Tiling edge cases of the float32 3x3 depthwise CPU kernels (csrc/cpu/depthwise_conv2d.cpp):
the AVX-512 forward (row pairs at row stride 1 or 2, one row at row dilation > 1 or an odd
row left over, pixel blocks of 4 / 8 then 2 and 1, stride 1 or 2 along w, depth multiplier
1, 2 or 4 with masked channel tails, zero rows and checked columns at the borders; also used
for backward-data at stride 1 and M == 1, with the filter rotated), the AVX-512 filter
gradient (two output rows per pass with a sliding 3-column window, one row at row stride /
dilation > 1, zero rows and columns at the borders), and the AVX2 / generic kernels they fall
back to (dx and dW at stride 2, pads larger than the filter, M > 1; M = 3 forward). An input
over 16 MiB takes the forward's prefetching path. Forward, dx and dW are
checked against a float64 NumPy reference written here (sums over filter taps of strided
slices of the zero-padded input, and their adjoints), on every device (`where`), and once more
in a subprocess with NABI_CONV_ISA=avx2 (the AVX2 kernels on an AVX-512 machine). The CPU
entries are also called on buffers at each 16-byte offset from a 64-byte boundary (the AVX-512
kernels start their channel blocks where the input is 64-byte aligned when C % 16 == 0 and
C >= 128: a masked head block, full blocks, a masked tail).

    PYTHONPATH=python python3 -m pytest -q -p no:randomly tests/test_depthwise_tiles.py
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import nabi as tf
from nabi import _C


def _pads(H, W, KH, KW, st, dl, padding):
    """(top, bottom, left, right) for 'SAME' / 'VALID' / [[t, b], [l, r]]."""
    if not isinstance(padding, str):
        return padding[0][0], padding[0][1], padding[1][0], padding[1][1]
    if padding == "VALID":
        return 0, 0, 0, 0
    out = []
    for n, k, s, d in ((H, KH, st[0], dl[0]), (W, KW, st[1], dl[1])):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        out += [total // 2, total - total // 2]
    return tuple(out)


def reference(x, w, dy, st, dl, padding):
    """y, dx, dw of depthwise_conv2d (NHWC, filter (KH, KW, C, M)) in float64, given dy."""
    x, w, dy = (np.asarray(a, np.float64) for a in (x, w, dy))
    N, H, W, C = x.shape
    KH, KW, _, M = w.shape
    pt, pb, pl, pr = _pads(H, W, KH, KW, st, dl, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    OH = (H + pt + pb - (KH - 1) * dl[0] - 1) // st[0] + 1
    OW = (W + pl + pr - (KW - 1) * dl[1] - 1) // st[1] + 1
    y = np.zeros((N, OH, OW, C, M))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    g = dy.reshape(N, OH, OW, C, M)
    for i in range(KH):
        for j in range(KW):
            sl = (slice(None), slice(i * dl[0], i * dl[0] + (OH - 1) * st[0] + 1, st[0]),
                  slice(j * dl[1], j * dl[1] + (OW - 1) * st[1] + 1, st[1]))
            tap = xp[sl]                                        # (N, OH, OW, C)
            y += tap[..., None] * w[i, j]
            dxp[sl] += (g * w[i, j]).sum(-1)
            dw[i, j] += np.einsum("nhwc,nhwcm->cm", tap, g)
    dx = dxp[:, pt:pt + H, pl:pl + W]
    return y.reshape(N, OH, OW, C * M), dx, dw


# (N, H, W, C, KH, KW, M, strides, dilations, padding)
CASES = [
    (4, 14, 14, 256, 3, 3, 1, (1, 1), (1, 1), "SAME"),     # the benchmarked MobileNet block
    (2, 9, 13, 37, 3, 3, 1, (1, 1), (1, 1), "SAME"),       # odd width, C = 2*16 + 5
    (3, 7, 15, 20, 3, 3, 1, (1, 1), (1, 1), "VALID"),      # odd rows: unpaired last row
    (1, 6, 11, 8, 3, 3, 1, (1, 1), (1, 1), "SAME"),        # C < 16: masked block only
    (2, 5, 1, 16, 3, 3, 1, (1, 1), (1, 1), "SAME"),        # W = 1: both side columns zero
    (2, 1, 9, 17, 3, 3, 1, (1, 1), (1, 1), "SAME"),        # H = 1: two zero rows
    (2, 11, 10, 48, 3, 3, 1, (2, 1), (1, 1), "SAME"),      # row stride 2: one row per pass
    (1, 12, 9, 33, 3, 3, 1, (1, 1), (2, 1), "SAME"),       # row dilation 2
    (2, 10, 12, 24, 3, 3, 1, (2, 2), (1, 1), "SAME"),      # stride 2: AVX2 dx / dW
    (1, 9, 10, 19, 3, 3, 1, (1, 1), (1, 1), "VALID"),
    (1, 6, 8, 21, 3, 3, 1, (1, 1), (1, 1), [[3, 1], [0, 4]]),  # pads > KH-1: AVX2 dx
    (1, 6, 8, 16, 3, 3, 1, (1, 1), (1, 1), [[0, 2], [2, 0]]),  # one-sided pads
    (2, 7, 9, 12, 3, 3, 2, (1, 1), (1, 1), "SAME"),        # M = 2: C*M = 16 + masked 8
    (1, 8, 7, 35, 2, 3, 1, (1, 1), (1, 1), "SAME"),        # KH = 2: AVX-512 fwd/dx, AVX2 dW
    (2, 7, 13, 37, 3, 3, 1, (1, 2), (1, 1), "SAME"),       # stride 2 along w only, odd W
    (1, 11, 11, 20, 3, 3, 1, (2, 2), (1, 1), "VALID"),     # stride 2, odd sizes
    (2, 9, 17, 16, 3, 3, 1, (2, 2), (1, 1), [[2, 1], [3, 0]]),  # stride 2, left pad 3
    (1, 13, 9, 18, 3, 3, 1, (2, 2), (2, 1), "SAME"),       # stride 2, row dilation 2
    (2, 12, 30, 24, 3, 3, 1, (2, 1), (1, 1), "SAME"),      # row stride 2: 5-row pairs
    (1, 6, 9, 5, 3, 3, 2, (1, 1), (1, 1), "VALID"),        # M = 2, C*M = 10: tail only
    (2, 8, 11, 7, 3, 3, 4, (2, 2), (1, 1), "SAME"),        # M = 4, stride 2, C*M = 28
    (1, 5, 6, 8, 3, 3, 4, (1, 1), (1, 1), "SAME"),         # M = 4, C*M = 32
    (1, 5, 7, 6, 3, 3, 3, (1, 1), (1, 1), "SAME"),         # M = 3: generic forward
    (1, 4, 9, 16, 1, 3, 1, (1, 1), (1, 1), "SAME"),        # KH = 1
    (2, 64, 64, 520, 3, 3, 1, (1, 1), (1, 1), "SAME"),     # input over 16 MiB: prefetching
]


def _id(c):
    p = c[9] if isinstance(c[9], str) else "explicit"
    return f"{c[0]}x{c[1]}x{c[2]}x{c[3]}-k{c[4]}{c[5]}m{c[6]}-s{c[7][0]}{c[7][1]}" \
           f"d{c[8][0]}{c[8][1]}-{p}"


def check(case, where="/CPU:0"):
    N, H, W, C, KH, KW, M, st, dl, padding = case
    rng = np.random.default_rng(abs(hash(_id(case))) % 2**32)
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = rng.standard_normal((KH, KW, C, M)).astype(np.float32)
    pt, pb, pl, pr = _pads(H, W, KH, KW, st, dl, padding)
    OH = (H + pt + pb - (KH - 1) * dl[0] - 1) // st[0] + 1
    OW = (W + pl + pr - (KW - 1) * dl[1] - 1) // st[1] + 1
    dy = rng.standard_normal((N, OH, OW, C * M)).astype(np.float32)
    y_ref, dx_ref, dw_ref = reference(x, w, dy, st, dl, padding)
    pad_arg = padding if isinstance(padding, str) else [[0, 0], *padding, [0, 0]]
    with tf.device(where):
        xt, wt = tf.constant(x), tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch([xt, wt])
            y = tf.nn.depthwise_conv2d(xt, wt, [1, st[0], st[1], 1], pad_arg, dilations=dl)
        dx, dw = tape.gradient(y, [xt, wt], output_gradients=tf.constant(dy))
    # float32 sums of n products of standard normals against float64: an absolute tolerance
    # well under one product's size, so one missed or doubled tap shows
    for got, ref, what, n in ((y, y_ref, "y", KH * KW), (dx, dx_ref, "dx", KH * KW * M),
                              (dw, dw_ref, "dW", N * OH * OW)):
        got = np.asarray(got.numpy(), np.float64)
        assert got.shape == ref.shape, (what, got.shape, ref.shape)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=3e-6 * n ** 0.5 * 10,
                                   err_msg=f"{what} of {_id(case)}")


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_depthwise_tiles(where, case):
    check(case, where)


def _at_phase(a, phase):
    """A C-contiguous copy of a whose data starts `phase` floats past a 64-byte boundary."""
    buf = np.empty(a.size + 32, a.dtype)
    k = (phase - buf.ctypes.data // 4) % 16
    out = buf[k:k + a.size].reshape(a.shape)
    out[...] = a
    assert out.ctypes.data % 64 == 4 * phase
    return out


@pytest.mark.parametrize("C", [128, 144, 256])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_depthwise_channel_alignment(C, padding):
    rng = np.random.default_rng(C)
    N, H, W = 2, 5, 7
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = rng.standard_normal((3, 3, C, 1)).astype(np.float32)
    pads = _pads(H, W, 3, 3, (1, 1), (1, 1), padding)
    OH, OW = H + pads[0] + pads[1] - 2, W + pads[2] + pads[3] - 2
    dy = rng.standard_normal((N, OH, OW, C)).astype(np.float32)
    y_ref, dx_ref, dw_ref = reference(x, w, dy, (1, 1), (1, 1), padding)
    for px, pw, pg in [(0, 0, 0), (4, 0, 8), (8, 12, 4), (12, 4, 0), (4, 4, 4)]:
        xa, wa, ga = _at_phase(x, px), _at_phase(w, pw), _at_phase(dy, pg)
        y = _C.depthwise_conv2d_forward(xa, wa, [1, 1], [1, 1], list(pads))
        dx = _C.depthwise_conv2d_backward_data(ga, wa, list(x.shape), [1, 1], [1, 1], list(pads))
        dw = _C.depthwise_conv2d_backward_filter(ga, xa, list(w.shape), [1, 1], [1, 1],
                                                 list(pads))
        what = f"C={C} {padding} phases x {px} w {pw} dy {pg}"
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=3e-4, err_msg="y " + what)
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=3e-4, err_msg="dx " + what)
        np.testing.assert_allclose(dw, dw_ref, rtol=1e-5, atol=1e-3, err_msg="dW " + what)


@pytest.mark.parametrize("C,M,st", [(144, 1, 2), (24, 2, 1), (20, 4, 2), (13, 2, 2)])
def test_depthwise_forward_phases(C, M, st):
    """Forward at stride 2 / M > 1 on buffers at 16-byte phases from a 64-byte boundary."""
    rng = np.random.default_rng(C * M + st)
    N, H, W = 2, 7, 9
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = rng.standard_normal((3, 3, C, M)).astype(np.float32)
    pads = _pads(H, W, 3, 3, (st, st), (1, 1), "SAME")
    OH, OW = -(-H // st), -(-W // st)
    y_ref = reference(x, w, np.zeros((N, OH, OW, C * M), np.float32), (st, st), (1, 1),
                      "SAME")[0]
    for px, pw in [(0, 0), (4, 8), (8, 4), (12, 12)]:
        y = _C.depthwise_conv2d_forward(_at_phase(x, px), _at_phase(w, pw), [st, st], [1, 1],
                                        list(pads))
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=3e-4,
                                   err_msg=f"C={C} M={M} stride {st} phases x {px} w {pw}")


def test_depthwise_tiles_avx2_path():
    """The same cases with NABI_CONV_ISA=avx2 (read once per process, hence the subprocess)."""
    env = dict(os.environ, NABI_CONV_ISA="avx2")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_depthwise_tiles as t\n"
            "for c in t.CASES: t.check(c)\n"
            "for C in (128, 144):\n    t.test_depthwise_channel_alignment(C, 'SAME')\n"
            "print('ok', len(t.CASES))")
    r = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == f"ok {len(CASES)}", r.stdout + r.stderr
