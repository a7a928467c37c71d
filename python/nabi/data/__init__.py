"""`nabi.data` (tf.data): input pipelines on the host.

    ds = nabi.data.Dataset.from_tensor_slices((x, y)).shuffle(1024).batch(64)
    model.fit(ds, epochs=3)
"""
from . import experimental
from .dataset import (AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, DatasetV2,
                      Iterator, TensorSpec)
from .readers import TextLineDataset
from .tfrecord import TFRecordDataset
from .transformations import DatasetSpec

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "DatasetV2",
           "DatasetSpec", "Iterator", "TFRecordDataset", "TensorSpec", "TextLineDataset",
           "experimental"]
