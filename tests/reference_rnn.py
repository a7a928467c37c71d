"""Independent NumPy references (step by step, float64) of Keras's LSTM, GRU (reset_after
True and False) and SimpleRNN: forward and backpropagation through time.

Weight layout is Keras's: kernel (D, G*U), recurrent_kernel (U, G*U); LSTM gates i, f, c, o;
GRU gates z, r, h with bias (2, 3U) when reset_after else (3U,); SimpleRNN G = 1.
`go_backwards` processes the sequence reversed and returns outputs in processed order.

Every backward takes the gradients of (outputs (B,T,U), h_T[, c_T]) and returns a dict of
gradients for x, h0[, c0], kernel, recurrent_kernel, bias.
"""
import numpy as np


def _f(name, x):
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "relu":
        return np.maximum(x, 0.0)
    if name in ("linear", None):
        return x
    if name == "hard_sigmoid":
        return np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    raise ValueError(name)


def _df(name, x):
    """Derivative with respect to the pre-activation x."""
    if name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-x))
        return s * (1.0 - s)
    if name == "relu":
        return (x > 0).astype(x.dtype)
    if name in ("linear", None):
        return np.ones_like(x)
    if name == "hard_sigmoid":
        return ((x > -3.0) & (x < 3.0)).astype(x.dtype) / 6.0
    raise ValueError(name)


def _order(T, go_backwards):
    return list(range(T - 1, -1, -1)) if go_backwards else list(range(T))


# --------------------------------------------------------------------------- LSTM


def lstm_forward(x, h0, c0, W, R, b, go_backwards=False, activation="tanh",
                 recurrent_activation="sigmoid"):
    x = np.asarray(x, np.float64)
    B, T, D = x.shape
    U = R.shape[0]
    h, c = np.array(h0, np.float64), np.array(c0, np.float64)
    bb = np.zeros(4 * U) if b is None else np.asarray(b, np.float64)
    outs, cache = [], []
    for t in _order(T, go_backwards):
        z = x[:, t] @ W + h @ R + bb
        zi, zf, zc, zo = z[:, :U], z[:, U:2 * U], z[:, 2 * U:3 * U], z[:, 3 * U:]
        i = _f(recurrent_activation, zi)
        f = _f(recurrent_activation, zf)
        g = _f(activation, zc)
        o = _f(recurrent_activation, zo)
        c_new = f * c + i * g
        h_new = o * _f(activation, c_new)
        cache.append(dict(t=t, h=h, c=c, zi=zi, zf=zf, zc=zc, zo=zo, i=i, f=f, g=g, o=o,
                          c_new=c_new))
        h, c = h_new, c_new
        outs.append(h)
    return np.stack(outs, 1), h, c, cache


def lstm_backward(x, W, R, cache, d_out, d_h, d_c, activation="tanh",
                  recurrent_activation="sigmoid"):
    x = np.asarray(x, np.float64)
    B, T, D = x.shape
    U = R.shape[0]
    dx = np.zeros_like(x)
    dW, dR, db = np.zeros_like(W, dtype=np.float64), np.zeros_like(R, dtype=np.float64), \
        np.zeros(4 * U)
    dh, dc = np.array(d_h, np.float64), np.array(d_c, np.float64)
    for s in range(T - 1, -1, -1):
        k = cache[s]
        dh = dh + d_out[:, s]
        do = dh * _f(activation, k["c_new"])
        dc = dc + dh * k["o"] * _df(activation, k["c_new"])
        di = dc * k["g"]
        dg = dc * k["i"]
        df = dc * k["c"]
        dz = np.concatenate([di * _df(recurrent_activation, k["zi"]),
                             df * _df(recurrent_activation, k["zf"]),
                             dg * _df(activation, k["zc"]),
                             do * _df(recurrent_activation, k["zo"])], axis=1)
        dW += x[:, k["t"]].T @ dz
        dR += k["h"].T @ dz
        db += dz.sum(0)
        dx[:, k["t"]] = dz @ W.T
        dh = dz @ R.T
        dc = dc * k["f"]
    return dict(x=dx, h0=dh, c0=dc, kernel=dW, recurrent_kernel=dR, bias=db)


# ---------------------------------------------------------------------------- GRU


def gru_forward(x, h0, W, R, b, go_backwards=False, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True):
    x = np.asarray(x, np.float64)
    B, T, D = x.shape
    U = R.shape[0]
    h = np.array(h0, np.float64)
    if reset_after:
        bb = np.zeros((2, 3 * U)) if b is None else np.asarray(b, np.float64)
        b_in, b_rec = bb[0], bb[1]
    else:
        b_in = np.zeros(3 * U) if b is None else np.asarray(b, np.float64)
        b_rec = np.zeros(3 * U)
    outs, cache = [], []
    for t in _order(T, go_backwards):
        xw = x[:, t] @ W + b_in
        if reset_after:
            hr = h @ R + b_rec
            az = xw[:, :U] + hr[:, :U]
            ar = xw[:, U:2 * U] + hr[:, U:2 * U]
            zz = _f(recurrent_activation, az)
            r = _f(recurrent_activation, ar)
            an = xw[:, 2 * U:] + r * hr[:, 2 * U:]
            extra = hr[:, 2 * U:]
        else:
            az = xw[:, :U] + h @ R[:, :U]
            ar = xw[:, U:2 * U] + h @ R[:, U:2 * U]
            zz = _f(recurrent_activation, az)
            r = _f(recurrent_activation, ar)
            an = xw[:, 2 * U:] + (r * h) @ R[:, 2 * U:]
            extra = None
        n = _f(activation, an)
        h_new = zz * h + (1 - zz) * n
        cache.append(dict(t=t, h=h, az=az, ar=ar, an=an, z=zz, r=r, n=n, hr_n=extra))
        h = h_new
        outs.append(h)
    return np.stack(outs, 1), h, cache


def gru_backward(x, W, R, cache, d_out, d_h, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True):
    x = np.asarray(x, np.float64)
    B, T, D = x.shape
    U = R.shape[0]
    dx = np.zeros_like(x)
    dW, dR = np.zeros(W.shape), np.zeros(R.shape)
    db = np.zeros((2, 3 * U)) if reset_after else np.zeros(3 * U)
    dh = np.array(d_h, np.float64)
    for s in range(T - 1, -1, -1):
        k = cache[s]
        dh = dh + d_out[:, s]
        hp = k["h"]
        dz = dh * (hp - k["n"])
        dn = dh * (1 - k["z"])
        dh_prev = dh * k["z"]
        dan = dn * _df(activation, k["an"])
        daz = dz * _df(recurrent_activation, k["az"])
        if reset_after:
            dr = dan * k["hr_n"]
            dar = dr * _df(recurrent_activation, k["ar"])
            dxw = np.concatenate([daz, dar, dan], 1)
            dhr = np.concatenate([daz, dar, dan * k["r"]], 1)
            dW += x[:, k["t"]].T @ dxw
            dR += hp.T @ dhr
            db[0] += dxw.sum(0)
            db[1] += dhr.sum(0)
            dh_prev = dh_prev + dhr @ R.T
        else:
            drh = dan @ R[:, 2 * U:].T
            dr = drh * hp
            dar = dr * _df(recurrent_activation, k["ar"])
            dxw = np.concatenate([daz, dar, dan], 1)
            dW += x[:, k["t"]].T @ dxw
            dR[:, :2 * U] += hp.T @ dxw[:, :2 * U]
            dR[:, 2 * U:] += (k["r"] * hp).T @ dan
            db += dxw.sum(0)
            dh_prev = dh_prev + drh * k["r"] + dxw[:, :2 * U] @ R[:, :2 * U].T
        dx[:, k["t"]] = dxw @ W.T
        dh = dh_prev
    return dict(x=dx, h0=dh, kernel=dW, recurrent_kernel=dR, bias=db)


# ---------------------------------------------------------------------- SimpleRNN


def simple_rnn_forward(x, h0, W, R, b, go_backwards=False, activation="tanh"):
    x = np.asarray(x, np.float64)
    B, T, D = x.shape
    U = R.shape[0]
    h = np.array(h0, np.float64)
    bb = np.zeros(U) if b is None else np.asarray(b, np.float64)
    outs, cache = [], []
    for t in _order(T, go_backwards):
        a = x[:, t] @ W + h @ R + bb
        cache.append(dict(t=t, h=h, a=a))
        h = _f(activation, a)
        outs.append(h)
    return np.stack(outs, 1), h, cache


def simple_rnn_backward(x, W, R, cache, d_out, d_h, activation="tanh"):
    x = np.asarray(x, np.float64)
    B, T, D = x.shape
    dx = np.zeros_like(x)
    dW, dR, db = np.zeros(W.shape), np.zeros(R.shape), np.zeros(R.shape[0])
    dh = np.array(d_h, np.float64)
    for s in range(T - 1, -1, -1):
        k = cache[s]
        da = (dh + d_out[:, s]) * _df(activation, k["a"])
        dW += x[:, k["t"]].T @ da
        dR += k["h"].T @ da
        db += da.sum(0)
        dx[:, k["t"]] = da @ W.T
        dh = da @ R.T
    return dict(x=dx, h0=dh, kernel=dW, recurrent_kernel=dR, bias=db)
