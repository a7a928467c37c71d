"""Fashion-MNIST (Zalando Research, MIT licence) from the original IDX files."""
from . import _idx

__all__ = ["load_data"]

MIRRORS = [
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]

# md5 of the published .gz files (fashion-mnist's README and torchvision list them); a download
# is also checked for its IDX header and size. Local files are checked for header and size only
# (re-compressed copies have other compressed digests).
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def load_data(path=None):
    """Loads Fashion-MNIST as Keras does: `((x_train, y_train), (x_test, y_test))`, uint8,
    x of shape (60000, 28, 28) / (10000, 28, 28).

    Looks in `path`, else `$NABI_DATASETS/fashion_mnist/`, else `~/.nabi/datasets/fashion_mnist/`,
    else downloads the files there (md5 of the published files verified).
    """
    return _idx.load_idx_dataset("fashion_mnist", MIRRORS, path=path, md5=MD5)
