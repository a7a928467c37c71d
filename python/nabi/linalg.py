"""`nabi.linalg`."""
from .ops.math_ops import matmul, tensordot  # noqa: F401
from .ops.nn_ops import l2_normalize  # noqa: F401
from .ops.linalg_ops import (band_part, det, diag, diag_part, einsum, global_norm, inv,  # noqa: F401
                             matrix_transpose, norm, slogdet, trace)
from .ops.linalg_decomp import (adjoint, cholesky, cholesky_solve, cross, eigh,  # noqa: F401
                                eigvalsh, expm, logdet, lstsq, matrix_rank, matvec, normalize, pinv,
                                qr, solve, svd, triangular_solve)
from .ops.linalg_lu import (logm, lu, lu_matrix_inverse, lu_reconstruct,  # noqa: F401
                             lu_solve, sqrtm)
from .ops.linalg_more_ops import (diag, diag_part, set_diag, tridiagonal_matmul,  # noqa: F401,E402
                                  tridiagonal_solve)
