"""Runs each dense example script (shortened where it trains on MNIST) and checks what it prints."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_MNIST = bool(os.environ.get("NABI_DATASETS")) and os.path.isdir(
    os.path.join(os.environ.get("NABI_DATASETS", ""), "mnist"))


def run_example(name, *args, timeout=300):
    env = dict(os.environ)
    py = os.path.join(ROOT, "python")
    if not os.environ.get("NABI_TEST_PACKAGE_DIR") and any(
            f.startswith("_C") for f in os.listdir(os.path.join(py, "nabi"))):
        env["PYTHONPATH"] = py + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                         capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def last_float(pattern, text):
    return float(re.findall(pattern, text)[-1])


def test_xor():
    out = run_example("xor.py", "--epochs", "3000")
    assert last_float(r"accuracy ([\d.]+)", out) == 1.0


def test_logic_gates():
    out = run_example("logic_gates.py", "--epochs", "1500")
    for gate in ("AND", "OR", "XOR"):
        assert re.search(gate + r":.*accuracy 1\.00", out), out


def test_linear_regression(tmp_path):
    out = run_example("linear_regression.py", "--out", str(tmp_path / "lr.png"))
    w, b = last_float(r"w = ([-\d.]+)", out), last_float(r"b = ([-\d.]+)", out)
    assert abs(w - 2) < 0.2 and abs(b + 1) < 0.2, out


def test_iris():
    out = run_example("iris.py")
    assert last_float(r"test accuracy ([\d.]+)", out) >= 0.93, out


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found: set NABI_DATASETS to ../shared/datasets")
def test_mnist_softmax_short():
    out = run_example("mnist_softmax.py", "--epochs", "1", "--limit", "10000")
    assert last_float(r"test accuracy ([\d.]+)", out) > 0.85, out


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found: set NABI_DATASETS to ../shared/datasets")
def test_mnist_mlp_short():
    out = run_example("mnist_mlp.py", "--epochs", "1", "--limit", "6000")
    assert "269,322" in out or "269322" in out, out  # Keras's parameter count
    assert last_float(r"test accuracy ([\d.]+)", out) > 0.88, out


def test_lstm_nabiya_plays_the_song_back():
    out = run_example("lstm_nabiya.py", timeout=600)
    m = re.search(r"training accuracy ([\d.]+); notes reproduced (\d+)/(\d+)", out)
    assert m, out
    assert float(m.group(1)) == 1.0 and m.group(2) == m.group(3) == "54", out


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found: set NABI_DATASETS to ../shared/datasets")
@pytest.mark.parametrize("script,limit,min_acc", [("mnist_cnn.py", "3000", 0.75),
                                                  ("mnist_cnn_5x5.py", "3000", 0.75),
                                                  ("mnist_augmented.py", "1000", 0.3),
                                                  ("mnist_lstm.py", "3000", 0.35)])
def test_mnist_cnn_and_lstm_examples_short(script, limit, min_acc):
    out = run_example(script, "--epochs", "1", "--limit", limit)
    assert last_float(r"test accuracy:? ([\d.]+)", out) >= min_acc, out


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found: set NABI_DATASETS to ../shared/datasets")
def test_mnist_gan_short(tmp_path):
    """The Keras tutorial's GAN (a Model subclass overriding train_step, two optimizers, a
    tf.data pipeline), narrowed and shortened: both losses stay finite and the generator
    learns MNIST's dark background (its digits start at a mean pixel of 0.5; MNIST's is 0.13)."""
    out = run_example("mnist_gan.py", "--epochs", "1", "--steps", "100", "--width", "0.25",
                      "--latent-dim", "32", timeout=600)
    d, g = last_float(r"d_loss: ([\d.]+)", out), last_float(r"g_loss: ([\d.]+)", out)
    assert 0.05 < d < 2.0 and 0.05 < g < 5.0, out
    m = re.search(r"mean pixel: generated ([\d.]+), real ([\d.]+)", out)
    assert m, out
    assert abs(float(m.group(2)) - 0.131) < 0.005, out
    assert float(m.group(1)) < 0.3, out


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found: set NABI_DATASETS to ../shared/datasets")
def test_mnist_dcgan_tutorial_short(tmp_path):
    """The TensorFlow DCGAN tutorial (custom loop, two tapes, @tf.function, tf.data,
    tf.train.Checkpoint), shortened: finite losses, one checkpoint per epoch, and the latest
    restored into fresh models reproduces the trained generator."""
    out = run_example("mnist_dcgan.py", "--epochs", "2", "--limit", "1024", "--width", "0.25",
                      "--checkpoint-dir", str(tmp_path), timeout=600)
    g, d = last_float(r"gen_loss ([\d.]+)", out), last_float(r"disc_loss ([\d.]+)", out)
    assert 0.01 < g < 10 and 0.01 < d < 10, out
    assert "restored generator matches: True" in out, out
    files = sorted(os.listdir(tmp_path))
    assert {"checkpoint", "ckpt-1.index", "ckpt-2.index"} <= set(files), files
