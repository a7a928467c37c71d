"""`keras.utils.audio_dataset_from_directory` (Keras 2.15 semantics).

    train_ds, val_ds = keras.utils.audio_dataset_from_directory(
        "mini_speech_commands", batch_size=64, validation_split=0.2, seed=0,
        output_sequence_length=16000, subset="both")

Classes, file order, the seeded shuffle of the file list and the validation split are the
other *_dataset_from_directory's (dataset_utils.py), over files ending .wav. Each file is
decoded with nabi.audio.decode_wav (all its channels) when its element is produced, to
float32 (samples, channels): cut or zero-padded to output_sequence_length when given, else
each batch is zero-padded to its longest clip (Keras's padded_batch). Batches are
(batch, samples, channels). sampling_rate is checked against each file's rate (nabi does not
resample; Keras needs tensorflow-io for that); ragged=True is not supported.
"""
import numpy as np

from .dataset_utils import (build_directory_datasets, check_directory_args,
                            check_validation_split_arg, index_directory, labels_to_array)

__all__ = ["audio_dataset_from_directory"]

_FN = "audio_dataset_from_directory"
ALLOWLIST_FORMATS = (".wav",)


def load_audio(path, sampling_rate, output_sequence_length):
    """One WAV file as a host float32 array (samples, channels)."""
    from ...audio import _parse_wav
    with open(path, "rb") as f:
        x, rate = _parse_wav(_FN, f.read())
    if sampling_rate is not None and rate != sampling_rate:
        raise ValueError(f"[{_FN}] {path} has a sample rate of {rate} Hz but sampling_rate="
                         f"{sampling_rate}; nabi does not resample audio")
    if output_sequence_length is not None:
        x = x[:output_sequence_length]
        if x.shape[0] < output_sequence_length:
            x = np.concatenate([x, np.zeros((output_sequence_length - x.shape[0], x.shape[1]),
                                            np.float32)])
    return np.ascontiguousarray(x, dtype=np.float32)


def _positive_int_or_none(name, v):
    if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1):
        raise ValueError(f"[{_FN}] `{name}` should be a positive integer or None. Received: "
                         f"{name}={v!r}")
    return None if v is None else int(v)


def _make_dataset(paths, labels, label_mode, num_classes, sampling_rate, output_sequence_length,
                  batch_size, shuffle, seed, class_names):
    from ...data import Dataset
    path_array = np.empty(len(paths), dtype=object)
    path_array[:] = list(paths)

    def load(path):
        p = path.numpy()
        return load_audio(p.decode("utf-8") if isinstance(p, bytes) else str(p), sampling_rate,
                          output_sequence_length)

    # TF's element_spec: (None, output_sequence_length, None) audio
    audio_shape = [output_sequence_length, None]
    if label_mode is None:
        ds = Dataset.from_tensor_slices(path_array).map(load)
        shapes = audio_shape
    else:
        y = labels_to_array(labels, label_mode, num_classes)
        ds = Dataset.from_tensor_slices((path_array, y)).map(lambda p, lab: (load(p), lab))
        shapes = (audio_shape, list(y.shape[1:]))
    if shuffle:
        ds = ds.shuffle(buffer_size=batch_size * 8 if batch_size else 1024, seed=seed)
    if batch_size is not None:
        ds = ds.padded_batch(batch_size, padded_shapes=shapes)
    ds.class_names = class_names
    ds.file_paths = list(paths)
    return ds


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None,
                                 follow_links=False, verbose=True):
    """A `nabi.data.Dataset` of (audio, labels) batches from a directory of WAV files, one
    subdirectory per class (`labels="inferred"`), of audio only (`labels=None`), or with
    `labels` given as a list (one per file, in the sorted file order). Audio batches are
    float32 (batch, samples, channels). With `subset="both"` returns [training, validation]."""
    directory, labels, label_mode = check_directory_args(
        _FN, directory, labels, class_names, label_mode, batch_size,
        ("audio files", "audio samples"))
    sampling_rate = _positive_int_or_none("sampling_rate", sampling_rate)
    output_sequence_length = _positive_int_or_none("output_sequence_length",
                                                   output_sequence_length)
    if ragged and output_sequence_length is not None:
        raise ValueError(f"[{_FN}] Cannot set both `ragged` and `output_sequence_length`")
    if ragged:
        raise NotImplementedError(f"[{_FN}] ragged=True is not supported by nabi; pass "
                                  "output_sequence_length or let each batch be zero-padded")
    check_validation_split_arg(_FN, validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = index_directory(directory, labels, ALLOWLIST_FORMATS, _FN,
                                                 class_names=class_names, shuffle=shuffle,
                                                 seed=seed, follow_links=follow_links,
                                                 verbose=verbose)
    num_classes = len(class_names) if class_names else 0

    def make(p, lab, shuffle_split):
        return _make_dataset(p, lab, label_mode, num_classes, sampling_rate,
                             output_sequence_length, batch_size, shuffle_split, seed,
                             class_names)

    return build_directory_datasets(_FN, directory, paths, labels, label_mode, class_names,
                                    validation_split, subset, shuffle, make, "audio files",
                                    ALLOWLIST_FORMATS)
