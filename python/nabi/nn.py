"""`nabi.nn`: activations, softmax, fused losses, bias_add, dropout, moments."""
from .ops.nn_ops import (batch_normalization, bias_add, dense, dropout, elu, exponential,  # noqa: F401
                         gelu, hard_sigmoid, l2_loss, l2_normalize, leaky_relu, log_softmax,
                         moments, relu, relu6, selu, sigmoid, sigmoid_cross_entropy_with_logits,
                         silu, softmax, softmax_cross_entropy_with_logits,
                         softmax_cross_entropy_with_logits_v2, softplus, softsign,
                         sparse_softmax_cross_entropy_with_logits, swish, tanh,
                         weighted_cross_entropy_with_logits)
from .ops.conv_ops import *  # noqa
from .ops.conv3d_ops import (avg_pool, avg_pool3d, conv3d, conv3d_transpose,  # noqa: F401
                             convolution, max_pool, max_pool3d)
from .ops.sort_ops import in_top_k, top_k  # noqa: F401
from .ops.misc_ops import embedding_lookup  # noqa: F401,E402
from .ops.misc_ops import depth_to_space, space_to_depth  # noqa: F401,E402
from .ops.nn_extra_ops import (compute_average_loss, crelu, ctc_beam_search_decoder,  # noqa: F401,E402
                               ctc_greedy_decoder,
                               ctc_loss, local_response_normalization, log_poisson_loss, lrn,
                               normalize_moments, scale_regularization_loss,
                               sufficient_statistics, weighted_moments, zero_fraction)
from .ops.nn_extra_ops import (log_uniform_candidate_sampler, nce_loss,  # noqa: F401,E402
                               sampled_softmax_loss, uniform_candidate_sampler)
from .ops.array_extra_ops import space_to_batch  # noqa: F401,E402
from .ops.nn_more_ops import (atrous_conv2d, atrous_conv2d_transpose,  # noqa: F401,E402
                              conv_transpose, dilation2d, erosion2d, pool)


def stateless_dropout(x, rate, seed, rng_alg=None, noise_shape=None, name=None):
    """`tf.nn.experimental.stateless_dropout`: TF's rule on TF's stateless numbers, so the
    mask equals TF's for the same seed: where(stateless_uniform(noise_shape, seed) >= rate,
    x / (1 - rate), 0)."""
    from .framework.tensor import convert_to_tensor as _ct
    from .ops.array_ops import where as _where, zeros_like as _zeros_like
    from .ops.random_ops import stateless_uniform as _su
    x = _ct(x)
    if not x.dtype.is_floating:
        raise ValueError(f"[nn.experimental.stateless_dropout] x must be a float tensor, got "
                         f"{x.dtype.name}")
    r = float(rate.numpy()) if hasattr(rate, "numpy") else float(rate)
    if not 0.0 <= r < 1.0:
        raise ValueError(f"[nn.experimental.stateless_dropout] rate must be in [0, 1), got {r}")
    shp = tuple(x.shape) if noise_shape is None else tuple(
        x.shape[i] if s is None else int(s) for i, s in enumerate(
            noise_shape.numpy().tolist() if hasattr(noise_shape, "numpy") else noise_shape))
    u = _su(shp, seed, dtype=x.dtype, alg="auto_select" if rng_alg is None else rng_alg)
    scaled = x * _ct(1.0 / (1.0 - r), dtype=x.dtype)
    return _where(u >= r, scaled, _zeros_like(scaled))


experimental = __import__("types").SimpleNamespace(stateless_dropout=stateless_dropout)
