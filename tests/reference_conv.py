"""Naive NumPy references for the convolution, pooling and batch-norm kernels.

Layouts: x NHWC, filters HWIO, padding (top, bottom, left, right). The conv references loop
over the filter taps (each tap is one small einsum over all output pixels), the pooling
references loop over output positions; both are independent of the im2col/GEMM kernels.
"""
import numpy as np


def out_size(n, k, s, d, p0, p1):
    return (n + p0 + p1 - ((k - 1) * d + 1)) // s + 1


def same_pads(n, k, s, d=1):
    """TF 'SAME' padding (before, after): the extra element goes after."""
    ek = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + ek - n, 0)
    return total // 2, total - total // 2


def _tap(xp, i, j, OH, OW, sh, sw, dh, dw):
    return xp[:, i * dh: i * dh + (OH - 1) * sh + 1: sh, j * dw: j * dw + (OW - 1) * sw + 1: sw, :]


def conv2d(x, w, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0)):
    N, H, W, C = x.shape
    KH, KW, _, CO = w.shape
    sh, sw = strides
    dh, dw = dilations
    OH = out_size(H, KH, sh, dh, pads[0], pads[1])
    OW = out_size(W, KW, sw, dw, pads[2], pads[3])
    xp = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    y = np.zeros((N, OH, OW, CO), x.dtype)
    for i in range(KH):
        for j in range(KW):
            y += np.einsum("nhwc,co->nhwo", _tap(xp, i, j, OH, OW, sh, sw, dh, dw), w[i, j])
    return y


def conv2d_backward_data(dy, x_shape, w, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0)):
    N, H, W, C = x_shape
    KH, KW, _, CO = w.shape
    sh, sw = strides
    dh, dw = dilations
    OH, OW = dy.shape[1:3]
    dxp = np.zeros((N, H + pads[0] + pads[1], W + pads[2] + pads[3], C), dy.dtype)
    for i in range(KH):
        for j in range(KW):
            _tap(dxp, i, j, OH, OW, sh, sw, dh, dw)[...] += np.einsum("nhwo,co->nhwc", dy, w[i, j])
    return dxp[:, pads[0]: pads[0] + H, pads[2]: pads[2] + W, :]


def conv2d_backward_filter(x, dy, w_shape, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0)):
    KH, KW, C, CO = w_shape
    sh, sw = strides
    dh, dw = dilations
    OH, OW = dy.shape[1:3]
    xp = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    dwt = np.zeros(w_shape, x.dtype)
    for i in range(KH):
        for j in range(KW):
            dwt[i, j] = np.einsum("nhwc,nhwo->co", _tap(xp, i, j, OH, OW, sh, sw, dh, dw), dy)
    return dwt


def _windows(H, W, k, s, pads):
    OH = out_size(H, k[0], s[0], 1, pads[0], pads[1])
    OW = out_size(W, k[1], s[1], 1, pads[2], pads[3])
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * s[0] - pads[0], ow * s[1] - pads[2]
            yield oh, ow, max(h0, 0), min(h0 + k[0], H), max(w0, 0), min(w0 + k[1], W)


def max_pool(x, k, s, pads=(0, 0, 0, 0)):
    """(y, argmax) with argmax the flattened NHWC index of the first maximum."""
    N, H, W, C = x.shape
    OH = out_size(H, k[0], s[0], 1, pads[0], pads[1])
    OW = out_size(W, k[1], s[1], 1, pads[2], pads[3])
    y = np.zeros((N, OH, OW, C), x.dtype)
    idx = np.zeros((N, OH, OW, C), np.int64)
    flat = np.arange(N * H * W * C).reshape(N, H, W, C)
    for oh, ow, h0, h1, w0, w1 in _windows(H, W, k, s, pads):
        win = x[:, h0:h1, w0:w1, :].reshape(N, -1, C)
        ids = flat[:, h0:h1, w0:w1, :].reshape(N, -1, C)
        a = np.argmax(win, axis=1)  # first maximum
        y[:, oh, ow, :] = np.take_along_axis(win, a[:, None, :], 1)[:, 0]
        idx[:, oh, ow, :] = np.take_along_axis(ids, a[:, None, :], 1)[:, 0]
    return y, idx


def max_pool_backward(dy, idx, x_shape):
    dx = np.zeros(int(np.prod(x_shape)), dy.dtype)
    np.add.at(dx, idx.ravel(), dy.ravel())
    return dx.reshape(x_shape)


def avg_pool(x, k, s, pads=(0, 0, 0, 0)):
    N, H, W, C = x.shape
    OH = out_size(H, k[0], s[0], 1, pads[0], pads[1])
    OW = out_size(W, k[1], s[1], 1, pads[2], pads[3])
    y = np.zeros((N, OH, OW, C), x.dtype)
    for oh, ow, h0, h1, w0, w1 in _windows(H, W, k, s, pads):
        y[:, oh, ow, :] = x[:, h0:h1, w0:w1, :].mean(axis=(1, 2))
    return y


def avg_pool_backward(dy, x_shape, k, s, pads=(0, 0, 0, 0)):
    N, H, W, C = x_shape
    dx = np.zeros(x_shape, dy.dtype)
    for oh, ow, h0, h1, w0, w1 in _windows(H, W, k, s, pads):
        cnt = (h1 - h0) * (w1 - w0)
        dx[:, h0:h1, w0:w1, :] += dy[:, oh, ow, None, None, :] / cnt
    return dx


def batch_norm_train(x, gamma, beta, eps):
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    inv = 1.0 / np.sqrt(var + eps)
    return (x - mean) * inv * gamma + beta, mean, var


def batch_norm_train_backward(dy, x, gamma, eps):
    axes = tuple(range(x.ndim - 1))
    M = x.size // x.shape[-1]
    mean = x.mean(axis=axes)
    inv = 1.0 / np.sqrt(x.var(axis=axes) + eps)
    xhat = (x - mean) * inv
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dx = gamma * inv / M * (M * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
