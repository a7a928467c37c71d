"""`nabi.math`: elementwise math, reductions and comparisons under TF's names."""
from .ops.math_ops import (abs, add, add_n, argmax, argmin, atan2, ceil, cos, cumsum,  # noqa: F401
                           divide, divide_no_nan, equal, erf, exp, expm1, floor, floordiv,
                           floormod, greater, greater_equal, is_finite, is_inf, is_nan, less,
                           less_equal, log, log1p, logical_and, logical_not, logical_or,
                           logical_xor, maximum, minimum, mod, multiply, negative, not_equal, pow,
                           reciprocal, reduce_all, reduce_any, reduce_logsumexp, reduce_max,
                           reduce_mean, reduce_min, reduce_prod, reduce_std, reduce_sum,
                           reduce_variance, round, rsqrt, sign, sin, sqrt, square,
                           squared_difference, subtract, tan, truediv)
from .ops.nn_ops import sigmoid, softplus, tanh, log_softmax, softmax  # noqa: F401
from .ops.math_ops import negative as neg  # noqa: F401
from .ops.nn_ops import l2_normalize  # noqa: F401
from .ops.math_ops import count_nonzero, cumprod  # noqa: F401
from .ops.sort_ops import in_top_k, top_k  # noqa: F401
from .ops.segment_ops import (segment_max, segment_mean, segment_sum,  # noqa: F401
                              unsorted_segment_sum)
from .ops.misc_ops import confusion_matrix  # noqa: F401,E402
from .ops.misc_ops import bincount, log_sigmoid, polyval  # noqa: F401,E402
from .ops.extra_math_ops import (accumulate_n, acos, acosh, asin, asinh, atan, atanh,  # noqa: F401,E402
                                 cosh, cumulative_logsumexp, digamma, erfc, erfinv,
                                 invert_permutation, lgamma, multiply_no_nan, ndtri,
                                 reciprocal_no_nan, reduce_euclidean_norm, rint, scalar_mul,
                                 segment_min, segment_prod, sinh, truncatediv, truncatemod,
                                 unsorted_segment_max, unsorted_segment_mean,
                                 unsorted_segment_min, unsorted_segment_prod,
                                 unsorted_segment_sqrt_n, xdivy, xlog1py, xlogy, zero_fraction)
from .ops.nn_ops import softsign  # noqa: F401,E402
from .ops.complex_ops import angle, complex, conj, imag, real  # noqa: F401,E402,A004
from .ops.special_ops import (bessel_i0, bessel_i0e, bessel_i1, bessel_i1e,  # noqa: F401,E402
                              special)
from .framework.symbolic import install as _install_symbolic  # noqa: E402
_install_symbolic(special, "math.special.")  # (Keras symbolic tensors, as nabi.math's ops)
from .ops.special_more_ops import (betainc, igamma, igammac, lbeta, nextafter,  # noqa: F401,E402
                                   polygamma, zeta)
