"""`nabi.config`: threads and devices, in TF's shape."""
from collections import namedtuple

from . import _C

PhysicalDevice = namedtuple("PhysicalDevice", ["name", "device_type"])
_state = {"gpu_visible": True, "inter_op": 0, "soft_placement": True}


def _gpu_visible():
    return _state["gpu_visible"]


class threading:  # noqa: N801  (TF's namespace spelling)
    @staticmethod
    def set_intra_op_parallelism_threads(num_threads):
        """Threads used inside one op (0 means the OpenMP default)."""
        import os
        n = int(num_threads)
        if n <= 0:
            n = int(os.environ.get("OMP_NUM_THREADS", 0) or os.cpu_count() or 1)
        _C.set_num_threads(n)

    @staticmethod
    def get_intra_op_parallelism_threads():
        return int(_C.get_num_threads())

    @staticmethod
    def set_inter_op_parallelism_threads(num_threads):
        _state["inter_op"] = int(num_threads)

    @staticmethod
    def get_inter_op_parallelism_threads():
        return _state["inter_op"]


def list_physical_devices(device_type=None):
    devs = [PhysicalDevice("/physical_device:CPU:0", "CPU")]
    if _state["gpu_visible"]:
        from . import cuda as _cuda
        devs += [PhysicalDevice(f"/physical_device:GPU:{i}", "GPU")
                 for i in range(_cuda.device_count())]
    if device_type is None:
        return devs
    return [d for d in devs if d.device_type == device_type.upper()]


list_logical_devices = list_physical_devices


def get_visible_devices(device_type=None):
    return list_physical_devices(device_type)


def set_visible_devices(devices, device_type=None):
    if device_type is None or device_type.upper() == "GPU":
        gpus = [d for d in (devices if isinstance(devices, (list, tuple)) else [devices])
                if getattr(d, "device_type", "") == "GPU"]
        _state["gpu_visible"] = bool(gpus)


def set_soft_device_placement(enabled):
    """On (TF's default): `with tf.device('GPU:0'):` runs on the CPU when no GPU is available.
    Off: asking for a GPU that is not available raises a clear error."""
    _state["soft_placement"] = bool(enabled)


def get_soft_device_placement():
    return _state["soft_placement"]


def run_functions_eagerly(run_eagerly):
    """TF's switch between traced and eager `tf.function`s. nabi always runs them eagerly, so
    the flag is only reported (functions_run_eagerly, a Keras model's run_eagerly) and changes
    one visible detail: Python values a function returns stay Python values instead of
    becoming Tensors, as TF's eager functions return them."""
    _state["run_eagerly"] = bool(run_eagerly)


def functions_run_eagerly():
    """The flag set by run_functions_eagerly: False by default, as in TF (even though nabi
    runs every function eagerly)."""
    return _state.get("run_eagerly", False)


class experimental:  # noqa: N801
    _tf32 = False

    @staticmethod
    def enable_tensor_float_32_execution(enabled):
        """Opt-in: float32 GEMMs on the GPU (matmul, dense, and the GEMMs inside conv and RNN
        kernels) use TF32 tensor cores (10-bit mantissa inputs, float32 accumulation). Off by
        default; the CPU is unaffected."""
        experimental._tf32 = bool(enabled)
        from .framework import device
        if device.gpu_available():
            device.backend().set_tf32_enabled(experimental._tf32)

    @staticmethod
    def tensor_float_32_execution_enabled():
        return experimental._tf32

    @staticmethod
    def set_memory_growth(device, enable):
        return None

    list_physical_devices = staticmethod(list_physical_devices)

    _op_determinism = False

    @staticmethod
    def enable_op_determinism():
        """Accepted and recorded (TF 2.9+); nabi does not pick different kernels for it."""
        experimental._op_determinism = True
