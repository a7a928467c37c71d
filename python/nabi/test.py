"""`nabi.test`: TF's build and device queries."""
from . import cuda as _cuda


def is_built_with_cuda():
    return _cuda.is_built()


def is_gpu_available(cuda_only=False, min_cuda_compute_capability=None):
    return _cuda.is_available()


def gpu_device_name():
    return "/device:GPU:0" if _cuda.is_available() else ""
