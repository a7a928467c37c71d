"""`nabi.data` (tf.data): input pipelines on the host.

    ds = nabi.data.Dataset.from_tensor_slices((x, y)).shuffle(1024).batch(64)
    model.fit(ds, epochs=3)
"""
from . import experimental
from .dataset import (AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, DatasetV2,
                      Iterator, TensorSpec)
from .options import Options, ThreadingOptions
from .readers import FixedLengthRecordDataset, TextLineDataset
from .tfrecord import TFRecordDataset
from .transformations import DatasetSpec

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "DatasetV2",
           "DatasetSpec", "FixedLengthRecordDataset", "Iterator", "Options", "TFRecordDataset",
           "TensorSpec", "TextLineDataset", "ThreadingOptions", "experimental"]
