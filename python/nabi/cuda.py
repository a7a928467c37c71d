"""`nabi.cuda`: what the CUDA backend can see. All answers are False/0 without a GPU build."""
from . import _C


def is_built():
    return bool(_C.built_with_cuda)


def device_count():
    from . import config
    from .framework import device as _dev
    if not config._gpu_visible():
        return 0
    if _dev.emulated():
        return 1
    return int(_C.cuda_device_count())


def is_available():
    return device_count() > 0


def memory_allocated():
    """Bytes held by live device buffers (0 without a GPU)."""
    return int(_backend().memory_allocated()) if is_available() else 0


def memory_reserved():
    """Bytes the caching allocator holds, in use or cached (0 without a GPU)."""
    return int(_backend().memory_reserved()) if is_available() else 0


def empty_cache():
    """Returns cached, unused device blocks to the driver (the cached scalar constants of
    nabi.framework.device included)."""
    if is_available():
        from .framework import device
        device._SCALARS.clear()
        _backend().empty_cache()


def _backend():
    from .framework.device import backend
    return backend()


def synchronize():
    """Waits for every queued GPU kernel (no-op without a GPU)."""
    if is_available():
        _backend().synchronize()


def get_device_name(device=0):
    """The GPU's name, as torch.cuda.get_device_name (raises without a GPU)."""
    from .framework import device as _dev
    _dev.require_gpu("cuda.get_device_name", "cuda:0")
    return str(_backend().device_name(int(device)))


def current_device():
    """The index of the GPU new tensors go to (nabi uses GPU 0; raises without a GPU)."""
    from .framework import device as _dev
    _dev.require_gpu("cuda.current_device", "cuda:0")
    return 0
