"""`tf.errors`: the exceptions a Session, a reader or an op raises (TF1's `tf.errors` is the
same module). Light on purpose: nabi.data imports it at start-up."""

__all__ = ["OpError", "InvalidArgumentError", "FailedPreconditionError", "NotFoundError",
           "OutOfRangeError", "UnimplementedError", "AlreadyExistsError", "DataLossError",
           "ResourceExhaustedError", "UnknownError"]


class OpError(Exception):
    def __init__(self, message, op=None, node_def=None, error_code=None):
        super().__init__(message)
        self.message = message
        self.op = op
        self.node_def = node_def
        self.error_code = error_code


class InvalidArgumentError(OpError, ValueError):
    pass


class _DTypeMismatchError(InvalidArgumentError, TypeError):
    """Two tensors of different dtypes in one op (`tf.constant(2.0) + tf.constant(40)`): TF's
    InvalidArgumentError, and still the TypeError nabi raised before."""


class FailedPreconditionError(OpError):
    pass


class NotFoundError(OpError):
    pass


class OutOfRangeError(OpError):
    pass


class UnimplementedError(OpError):
    pass


class AlreadyExistsError(OpError):
    pass


class DataLossError(OpError):
    """Unrecoverable data corruption (a bad TFRecord checksum)."""


class ResourceExhaustedError(OpError):
    pass


class UnknownError(OpError):
    pass
