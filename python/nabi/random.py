"""`nabi.random`: seedable random tensors."""
import types as _types

from .ops.random_ops import (categorical, normal, set_seed, shuffle, truncated_normal,  # noqa: F401
                             uniform)
from .ops.random_ops import (Algorithm, Generator, create_rng_state,  # noqa: F401
                             get_global_generator, set_global_generator)
from .ops.random_ops import (gamma, poisson, stateless_binomial,  # noqa: F401
                             stateless_categorical, stateless_fold_in, stateless_gamma,
                             stateless_normal, stateless_poisson, stateless_split,
                             stateless_shuffle, stateless_truncated_normal,
                             stateless_uniform)
from .ops.nn_extra_ops import (log_uniform_candidate_sampler,  # noqa: F401,E402
                               uniform_candidate_sampler)

fold_in = stateless_fold_in
split = stateless_split
experimental = _types.SimpleNamespace(stateless_split=stateless_split,
                                      stateless_shuffle=stateless_shuffle,
                                      stateless_fold_in=stateless_fold_in, Generator=Generator,
                                      get_global_generator=get_global_generator,
                                      set_global_generator=set_global_generator,
                                      create_rng_state=create_rng_state, Algorithm=Algorithm)
