"""`nabi.data.experimental`: the tf.data.experimental names that TF 2 notebooks still use."""
from .dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "cardinality"]


def cardinality(dataset):
    """dataset.cardinality(): a count, INFINITE_CARDINALITY (-1) or UNKNOWN_CARDINALITY (-2)."""
    return dataset.cardinality()
