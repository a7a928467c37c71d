"""Fisher's Iris data as the TensorFlow tutorial ships it (two CSVs inside this package)."""
import os

import numpy as np

__all__ = ["load_data", "CLASS_NAMES", "FEATURE_NAMES"]

_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
TRAINING = "iris_training.csv"
TEST = "iris_test.csv"
CLASS_NAMES = ["setosa", "versicolor", "virginica"]
FEATURE_NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def load_csv_with_header(filename, features_dtype=np.float32, target_dtype=np.int64):
    """Reads a tutorial CSV: header `N,F,class names...`, then rows of F features and a label."""
    with open(filename, "r", encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if not lines:
        raise ValueError(f"[iris] {filename} is empty")
    header = lines[0].split(",")
    try:
        n, nf = int(header[0]), int(header[1])
    except (ValueError, IndexError):
        raise ValueError(f"[iris] {filename}: the header must start with `rows,features`, got "
                         f"{lines[0]!r}") from None
    rows = [ln.split(",") for ln in lines[1:]]
    if len(rows) != n:
        raise ValueError(f"[iris] {filename}: header promises {n} rows, found {len(rows)}")
    bad = [i + 2 for i, r in enumerate(rows) if len(r) != nf + 1]
    if bad:
        raise ValueError(f"[iris] {filename}: line {bad[0]} does not have {nf + 1} fields")
    data = np.array([[float(v) for v in r[:nf]] for r in rows], dtype=features_dtype)
    target = np.array([int(r[nf]) for r in rows], dtype=target_dtype)
    return data, target


def load_data(path=None):
    """Returns `((x_train, y_train), (x_test, y_test))`: 120 and 30 rows of 4 float32 features
    and int64 labels 0..2 (setosa, versicolor, virginica).

    `path`: a directory holding `iris_training.csv` and `iris_test.csv` (defaults to the copies
    shipped in the package)."""
    d = os.fspath(path) if path is not None else _DATA
    out = []
    for fname in (TRAINING, TEST):
        p = os.path.join(d, fname)
        if not os.path.isfile(p):
            raise FileNotFoundError(f"[datasets.iris] {p} is missing: `path` must be a directory "
                                    f"holding {TRAINING} and {TEST}")
        out.append(load_csv_with_header(p))
    return tuple(out)
