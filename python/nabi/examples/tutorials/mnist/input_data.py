"""TF1's `tensorflow.examples.tutorials.mnist.input_data`: `read_data_sets(train_dir, ...)`.

    from nabi.examples.tutorials.mnist import input_data
    mnist = input_data.read_data_sets("MNIST_data/", one_hot=True)
    batch_xs, batch_ys = mnist.train.next_batch(100)

Reads the four gzipped IDX files from `train_dir`, downloading them there when absent (with the
sha256 of their uncompressed bytes checked). As in TF, the first `validation_size` training
images form `.validation`, the rest `.train`; `.test` is the t10k set. `next_batch` shuffles
with NumPy's global generator exactly as TF did (a permutation at the start and at each epoch
boundary, where the batch wraps around: the rest of the epoch, then the start of the next).
"""
import collections
import os

import numpy as np

from ....keras.datasets import _idx
from ....keras.datasets import mnist as _mnist

__all__ = ["read_data_sets", "DataSet", "Datasets", "dense_to_one_hot", "extract_images",
           "extract_labels", "DEFAULT_SOURCE_URL"]

DEFAULT_SOURCE_URL = _mnist.MIRRORS[0]
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"

Datasets = collections.namedtuple("Datasets", ["train", "validation", "test"])


def _dtype_name(dtype):
    if dtype is None:
        return "float32"
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return np.dtype(dtype).name


def dense_to_one_hot(labels_dense, num_classes):
    """Class labels to one-hot rows (float64, as TF returned them)."""
    num_labels = labels_dense.shape[0]
    index_offset = np.arange(num_labels) * num_classes
    labels_one_hot = np.zeros((num_labels, num_classes))
    labels_one_hot.flat[index_offset + labels_dense.ravel()] = 1
    return labels_one_hot


def extract_images(f):
    """A 4-D uint8 array [index, y, x, depth] from an IDX images file (path or file object)."""
    raw = f.read() if hasattr(f, "read") else None
    if raw is not None:
        import gzip
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = _idx.parse_idx(raw, getattr(f, "name", "<file>"), _idx.IMAGES_MAGIC)
    else:
        data = _idx.read_idx(f, _idx.IMAGES_MAGIC)
    return data.reshape(data.shape + (1,))


def extract_labels(f, one_hot=False, num_classes=10):
    """A 1-D uint8 array [index] (or one-hot rows) from an IDX labels file."""
    raw = f.read() if hasattr(f, "read") else None
    if raw is not None:
        import gzip
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        labels = _idx.parse_idx(raw, getattr(f, "name", "<file>"), _idx.LABELS_MAGIC)
    else:
        labels = _idx.read_idx(f, _idx.LABELS_MAGIC)
    if one_hot:
        return dense_to_one_hot(labels, num_classes)
    return labels


class DataSet:
    """One split: `images`, `labels`, `num_examples`, `epochs_completed`, `next_batch`."""

    def __init__(self, images, labels, fake_data=False, one_hot=False, dtype=np.float32,
                 reshape=True, seed=None):
        # TF seeded NumPy's global generator here (with the op seed when given) and shuffled
        # with it; with no seed it reseeded from the OS, we leave the generator as it is.
        if seed is None:
            from ....ops import random_ops
            seed = random_ops._state.get("seed")
        if seed is not None:
            np.random.seed(int(seed) % (2 ** 32))
        dt = _dtype_name(dtype)
        if dt not in ("uint8", "float32"):
            raise TypeError(f"Invalid image dtype {dt!r}, expected uint8 or float32")
        if fake_data:
            self._num_examples = 10000
            self.one_hot = one_hot
        else:
            images = np.asarray(images)
            labels = np.asarray(labels)
            if images.shape[0] != labels.shape[0]:
                raise ValueError(f"images.shape: {images.shape} labels.shape: {labels.shape}")
            self._num_examples = images.shape[0]
            if reshape:
                if images.ndim == 4:
                    if images.shape[3] != 1:
                        raise ValueError("reshape=True needs single-channel images")
                    images = images.reshape(images.shape[0], images.shape[1] * images.shape[2])
                elif images.ndim == 3:
                    images = images.reshape(images.shape[0], images.shape[1] * images.shape[2])
            if dt == "float32":
                images = images.astype(np.float32)
                images = np.multiply(images, 1.0 / 255.0)
        self._images = images
        self._labels = labels
        self._epochs_completed = 0
        self._index_in_epoch = 0

    @property
    def images(self):
        return self._images

    @property
    def labels(self):
        return self._labels

    @property
    def num_examples(self):
        return self._num_examples

    @property
    def epochs_completed(self):
        return self._epochs_completed

    def next_batch(self, batch_size, fake_data=False, shuffle=True):
        """The next `batch_size` examples; shuffles at the first call and at each epoch's end
        (the batch that crosses the boundary is the epoch's rest plus the new epoch's start)."""
        if fake_data:
            fake_image = [1] * 784
            fake_label = [1] + [0] * 9 if self.one_hot else 0
            return ([fake_image for _ in range(batch_size)],
                    [fake_label for _ in range(batch_size)])
        start = self._index_in_epoch
        if self._epochs_completed == 0 and start == 0 and shuffle:
            perm0 = np.arange(self._num_examples)
            np.random.shuffle(perm0)
            self._images = self.images[perm0]
            self._labels = self.labels[perm0]
        if start + batch_size > self._num_examples:
            self._epochs_completed += 1
            rest_num_examples = self._num_examples - start
            images_rest_part = self._images[start:self._num_examples]
            labels_rest_part = self._labels[start:self._num_examples]
            if shuffle:
                perm = np.arange(self._num_examples)
                np.random.shuffle(perm)
                self._images = self.images[perm]
                self._labels = self.labels[perm]
            start = 0
            self._index_in_epoch = batch_size - rest_num_examples
            end = self._index_in_epoch
            images_new_part = self._images[start:end]
            labels_new_part = self._labels[start:end]
            return (np.concatenate((images_rest_part, images_new_part), axis=0),
                    np.concatenate((labels_rest_part, labels_new_part), axis=0))
        self._index_in_epoch += batch_size
        end = self._index_in_epoch
        return self._images[start:end], self._labels[start:end]


def read_data_sets(train_dir, fake_data=False, one_hot=False, dtype=np.float32, reshape=True,
                   validation_size=5000, seed=None, source_url=DEFAULT_SOURCE_URL):
    """MNIST as `Datasets(train, validation, test)` (55000 / 5000 / 10000 by default)."""
    if fake_data:
        def fake():
            return DataSet([], [], fake_data=True, one_hot=one_hot, dtype=dtype, seed=seed)
        return Datasets(train=fake(), validation=fake(), test=fake())
    mirrors = [source_url] if source_url else []
    mirrors += [m for m in _mnist.MIRRORS if m not in mirrors]
    files = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]

    def check(p):
        _idx.read_idx(p, _idx.IMAGES_MAGIC if "images" in os.path.basename(p)
                      else _idx.LABELS_MAGIC)

    found = _idx.find_or_fetch("mnist", files, mirrors, path=train_dir, sha256=_mnist.SHA256,
                               check=check)
    train_images = extract_images(found[TRAIN_IMAGES])
    train_labels = extract_labels(found[TRAIN_LABELS], one_hot=one_hot)
    test_images = extract_images(found[TEST_IMAGES])
    test_labels = extract_labels(found[TEST_LABELS], one_hot=one_hot)
    if not 0 <= validation_size <= len(train_images):
        raise ValueError(f"Validation size should be between 0 and {len(train_images)}. "
                         f"Received: {validation_size}.")
    validation_images = train_images[:validation_size]
    validation_labels = train_labels[:validation_size]
    train_images = train_images[validation_size:]
    train_labels = train_labels[validation_size:]
    options = dict(dtype=dtype, reshape=reshape, seed=seed)
    train = DataSet(train_images, train_labels, **options)
    validation = DataSet(validation_images, validation_labels, **options)
    test = DataSet(test_images, test_labels, **options)
    return Datasets(train=train, validation=validation, test=test)


def load_mnist(train_dir="MNIST-data"):
    return read_data_sets(train_dir)
