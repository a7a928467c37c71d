"""`nabi.data.experimental`: the tf.data.experimental names that TF 2 notebooks still use."""
from .dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from .readers import CsvDataset, make_csv_dataset
from .transformations import (bucket_by_sequence_length, choose_from_datasets, group_by_window,
                              rejection_resample, sample_from_datasets, scan, unique)

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Counter", "CsvDataset",
           "bucket_by_sequence_length", "cardinality", "choose_from_datasets",
           "dense_to_ragged_batch", "group_by_window", "make_csv_dataset", "rejection_resample",
           "sample_from_datasets", "scan", "take_while", "unique"]


def cardinality(dataset):
    """dataset.cardinality(): a count, INFINITE_CARDINALITY (-1) or UNKNOWN_CARDINALITY (-2)."""
    return dataset.cardinality()


def Counter(start=0, step=1, dtype="int64"):  # noqa: N802 (TF's name)
    """The deprecated alias of Dataset.counter that the data augmentation tutorial uses."""
    return Dataset.counter(start, step, dtype)


def take_while(predicate):
    """The transformation for `dataset.apply`: dataset.take_while(predicate)."""
    def apply(dataset):
        return dataset.take_while(predicate)
    return apply


def dense_to_ragged_batch(batch_size, drop_remainder=False, row_splits_dtype="int64"):
    """The transformation for `dataset.apply`: dataset.ragged_batch(batch_size, ...)."""
    def apply(dataset):
        return dataset.ragged_batch(batch_size, drop_remainder, row_splits_dtype)
    return apply
