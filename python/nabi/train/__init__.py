"""`nabi.train`: TF2's object-based checkpoints (`tf.train.Checkpoint`, `CheckpointManager`,
`latest_checkpoint`, `list_variables`, `load_variable`). TF1's `tf.train` (Saver, the v1
optimizers) is `nabi.compat.v1.train`.

The files are named as TF names them but hold nabi's own format (see checkpoint.py):
TensorFlow cannot read them, nor nabi TensorFlow's.
"""
from .checkpoint import (Checkpoint, CheckpointLoadStatus, CheckpointOptions,  # noqa: F401
                         CheckpointReader, InitializationOnlyStatus, list_variables,
                         load_checkpoint, load_variable)
from .example import (BytesList, Example, Feature, FeatureList, FeatureLists,  # noqa: F401
                      Features, FloatList, Int64List, SequenceExample)
from .checkpoint_management import (CheckpointManager, CheckpointState,  # noqa: F401
                                    checkpoint_exists, get_checkpoint_state, latest_checkpoint,
                                    update_checkpoint_state)

__all__ = ["Checkpoint", "CheckpointLoadStatus", "CheckpointManager", "CheckpointOptions",
           "CheckpointReader", "CheckpointState", "BytesList", "Example", "Feature",
           "FeatureList", "FeatureLists", "Features", "FloatList", "Int64List",
           "InitializationOnlyStatus", "SequenceExample", "checkpoint_exists",
           "get_checkpoint_state", "latest_checkpoint", "list_variables", "load_checkpoint",
           "load_variable", "update_checkpoint_state"]
