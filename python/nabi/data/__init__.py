"""`nabi.data` (tf.data): input pipelines on the host.

    ds = nabi.data.Dataset.from_tensor_slices((x, y)).shuffle(1024).batch(64)
    model.fit(ds, epochs=3)
"""
from . import experimental
from .dataset import (AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, DatasetV2,
                      Iterator, TensorSpec)

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "DatasetV2",
           "Iterator", "TensorSpec", "experimental"]
