"""Runs the TF1 examples (examples/tf1) shortened; needs the MNIST files in $NABI_DATASETS/mnist."""
import math
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = os.environ.get("NABI_DATASETS")

pytestmark = pytest.mark.skipif(
    not DATASETS or not os.path.exists(os.path.join(DATASETS, "mnist")),
    reason="NABI_DATASETS is unset (or has no mnist/): the TF1 examples need the MNIST files")


def run_example(name, *args, timeout=300):
    env = dict(os.environ)
    py = os.path.join(ROOT, "python")
    if not os.environ.get("NABI_TEST_PACKAGE_DIR") and any(
            f.startswith("_C") for f in os.listdir(os.path.join(py, "nabi"))):
        env["PYTHONPATH"] = py + os.pathsep + env.get("PYTHONPATH", "")  # dev build, else installed
    p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "tf1", name), *args],
                       capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert p.returncode == 0, f"{name} failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def numbers(text, label):
    vals = [float(v) for v in re.findall(label + r"\s+(-?[0-9.]+(?:e-?[0-9]+)?|nan|inf)", text)]
    assert vals, f"no '{label}' in output:\n{text}"
    assert all(math.isfinite(v) for v in vals), text
    return vals


def test_softmax_regression_full_run_reaches_090():
    out = run_example("softmax_regression.py", "--seed", "0")  # deterministic shuffling
    numbers(out, "loss")
    assert numbers(out, "test accuracy")[-1] >= 0.90, out


def test_mlp_short():
    out = run_example("mlp.py", "--steps", "60")
    numbers(out, "avg loss")
    assert numbers(out, "test accuracy")[-1] > 0.3, out


def test_cnn_layers_short():
    out = run_example("cnn_layers.py", "--steps", "8", "--eval-limit", "500")
    numbers(out, "loss")
    assert 0.0 <= numbers(out, "test accuracy")[-1] <= 1.0


def test_gan_short(tmp_path):
    out = run_example("gan.py", "--steps", "20", "--every", "10", "--out", str(tmp_path))
    numbers(out, "generator loss")
    numbers(out, "discriminator loss")
    change = numbers(out, r"mean \|change\|")[-1]
    assert change > 0.0
    pngs = sorted(os.listdir(tmp_path))
    assert "step_0.png" in pngs and "step_20.png" in pngs
    with open(tmp_path / "step_20.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
