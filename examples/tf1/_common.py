"""Shared helpers for the TF1 examples: the MNIST directory and a --steps argument."""
import argparse
import os


def mnist_dir():
    d = os.environ.get("NABI_DATASETS")
    return os.path.join(d, "mnist") if d else "MNIST_data/"


def parser(desc, steps):
    p = argparse.ArgumentParser(description=desc)
    p.add_argument("--steps", type=int, default=steps, help=f"training steps (default {steps})")
    p.add_argument("--seed", type=int, default=None, help="seed the batch shuffling (tests)")
    return p
