"""Generates the Chebyshev tables of python/nabi/ops/special_ops.py and csrc/cuda/special.cu
(Bessel I0, I1, K0, K1, Dawson, Ei, Fresnel and Spence on both; J0, J1, Y0, Y1 and their Hankel
P, Q on the CPU only).

    python tools/special_coeffs.py            # needs mpmath (a dev-time tool, not a dependency)

Each table is the Chebyshev interpolant, at n Chebyshev nodes of [-1, 1], of a smooth function
of t evaluated by mpmath at 40 digits (the forms are described at the top of special_ops.py),
cut where the coefficients fall below 2e-18 of the largest. Prints the NumPy tables, then the
CUDA __constant__ tables.
"""
import textwrap

import mpmath as mp

mp.mp.dps = 40
TWO_OVER_PI = 2 / mp.pi


def cheb(f, n):
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    vals = [f(t) for t in nodes]
    cs = [2 * sum(vals[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n) for k in range(n)) / n
          for j in range(n)]
    cs[0] /= 2
    return cs


def in_x2(xmax2):  # x from t, with x^2 = xmax2 (t + 1) / 2
    return lambda t: mp.sqrt(xmax2 * (t + 1) / 2)


def at(x_of_t, g, at0=None):
    def f(t):
        x = x_of_t(t)
        return at0 if (x == 0 and at0 is not None) else g(x)
    return f


def pq(nu, x):
    """Hankel's P and Q: J = sqrt(2/(pi x)) (P cos xn - Q sin xn), Y = ... (P sin + Q cos)."""
    a = mp.sqrt(mp.pi * x / 2)
    xn = x - (2 * nu + 1) * mp.pi / 4
    j, y = mp.besselj(nu, x), mp.bessely(nu, x)
    return a * (j * mp.cos(xn) + y * mp.sin(xn)), a * (-j * mp.sin(xn) + y * mp.cos(xn))


def u_large(t):  # x from t with u = 8/x, u^2 = (t + 1) / 2
    return 8 / mp.sqrt((t + 1) / 2)


I, K, J, Y = mp.besseli, mp.besselk, mp.besselj, mp.bessely
TABLES = {  # name: (f(t), nodes, CUDA too)
    "I0_SMALL": (at(lambda t: 4 * (t + 1), lambda x: mp.exp(-x) * I(0, x)), 40, True),
    "I0_LARGE": (at(lambda t: 16 / (t + 1), lambda x: mp.sqrt(x) * mp.exp(-x) * I(0, x)), 40, True),
    "I1_SMALL": (at(lambda t: 4 * (t + 1), lambda x: mp.exp(-x) * I(1, x) / x, mp.mpf(1) / 2),
                 40, True),
    "I1_LARGE": (at(lambda t: 16 / (t + 1), lambda x: mp.sqrt(x) * mp.exp(-x) * I(1, x)), 40, True),
    "K0_SMALL": (at(in_x2(4), lambda x: K(0, x) + mp.log(x / 2) * I(0, x), -mp.euler), 20, True),
    "K0_LARGE": (at(lambda t: 4 / (t + 1), lambda x: mp.sqrt(x) * mp.exp(x) * K(0, x)), 40, True),
    "K1_SMALL": (at(in_x2(4), lambda x: x * K(1, x) - x * mp.log(x / 2) * I(1, x), mp.mpf(1)),
                 20, True),
    "K1_LARGE": (at(lambda t: 4 / (t + 1), lambda x: mp.sqrt(x) * mp.exp(x) * K(1, x)), 40, True),
    "J0_SMALL": (at(in_x2(64), lambda x: J(0, x)), 30, False),
    "J1_SMALL": (at(in_x2(64), lambda x: J(1, x) / x, mp.mpf(1) / 2), 30, False),
    "Y0_SMALL": (at(in_x2(64), lambda x: Y(0, x) - TWO_OVER_PI * mp.log(x) * J(0, x),
                    TWO_OVER_PI * (mp.euler - mp.log(2))), 30, False),
    "Y1_SMALL": (at(in_x2(64), lambda x: (Y(1, x) - TWO_OVER_PI * mp.log(x) * J(1, x) +
                                          TWO_OVER_PI / x) / x), 30, False),
    "P0_LARGE": (lambda t: pq(0, u_large(t))[0], 30, False),
    "Q0_LARGE": (lambda t: pq(0, u_large(t))[1] * u_large(t) / 8, 30, False),
    "P1_LARGE": (lambda t: pq(1, u_large(t))[0], 30, False),
    "Q1_LARGE": (lambda t: pq(1, u_large(t))[1] * u_large(t) / 8, 30, False),
}


def fresnel_fg(x):
    """The auxiliary f, g of C = 1/2 + f sin(pi x^2/2) - g cos(..), S = 1/2 - f cos - g sin."""
    c, s = mp.fresnelc(x) - mp.mpf(1) / 2, mp.fresnels(x) - mp.mpf(1) / 2
    a = mp.pi * x * x / 2
    return c * mp.sin(a) - s * mp.cos(a), -c * mp.cos(a) - s * mp.sin(a)


def dawson(x):
    return mp.sqrt(mp.pi) / 2 * mp.exp(-x * x) * mp.erfi(x)


FRESNEL_SPLIT = mp.mpf(5) / 2
TABLES.update({
    "DAWSN_SMALL": (at(lambda t: mp.sqrt(8 * (t + 1)), lambda x: dawson(x) / x, mp.mpf(1)), 60, True),
    "DAWSN_LARGE": (at(lambda t: 4 / mp.sqrt((t + 1) / 2), lambda x: x * dawson(x)), 60, True),
    "EI_SMALL": (at(lambda t: 3 * (t + 1), lambda x: (mp.ei(x) - mp.euler - mp.log(x)) / x,
                    mp.mpf(1)), 60, True),
    "EI_MID": (at(lambda t: 15 + 9 * t, lambda x: x * mp.exp(-x) * mp.ei(x)), 60, True),
    "EI_LARGE": (at(lambda t: 48 / (t + 1), lambda x: x * mp.exp(-x) * mp.ei(x)), 60, True),
    "FRESNEL_C_SMALL": (at(lambda t: (FRESNEL_SPLIT ** 4 * (t + 1) / 2) ** mp.mpf(0.25),
                           lambda x: mp.fresnelc(x) / x, mp.mpf(1)), 60, True),
    "FRESNEL_S_SMALL": (at(lambda t: (FRESNEL_SPLIT ** 4 * (t + 1) / 2) ** mp.mpf(0.25),
                           lambda x: mp.fresnels(x) / x ** 3, mp.pi / 6), 60, True),
    "FRESNEL_F_LARGE": (at(lambda t: FRESNEL_SPLIT / mp.sqrt((t + 1) / 2),
                           lambda x: fresnel_fg(x)[0] * x), 60, True),
    "FRESNEL_G_LARGE": (at(lambda t: FRESNEL_SPLIT / mp.sqrt((t + 1) / 2),
                           lambda x: fresnel_fg(x)[1] * x ** 3), 60, True),
    "SPENCE_MID": (at(lambda t: mp.mpf(5) / 4 + 3 * t / 4, lambda x: mp.polylog(2, 1 - x) / (1 - x),
                      mp.mpf(1)), 60, True),
})


def main():
    tables = {}
    for name, (f, n, _) in TABLES.items():
        cs = cheb(lambda t: f(min(t, 1 - mp.mpf(10) ** -30)), n)
        big = max(abs(c) for c in cs)
        keep = [float(c) for c in cs]
        while len(keep) > 1 and abs(keep[-1]) < 2e-18 * float(big):
            keep.pop()
        tables[name] = keep
    for name, cs in tables.items():
        print(f"_{name} = np.array([")
        print(textwrap.indent(textwrap.fill(", ".join(repr(c) for c in cs), 92), "    "))
        print("])")
    for name, cs in tables.items():
        if not TABLES[name][2]:
            continue
        cname = "k" + "".join(p.title() for p in name.split("_"))
        rows = [", ".join(repr(c) for c in cs[i:i + 3]) for i in range(0, len(cs), 3)]
        print(f"__constant__ double {cname}[{len(cs)}] = {{\n    " + ",\n    ".join(rows) + "};")


if __name__ == "__main__":
    main()
