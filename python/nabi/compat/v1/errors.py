"""TF1's `tf.errors`: the exceptions a Session raises."""

__all__ = ["OpError", "InvalidArgumentError", "FailedPreconditionError", "NotFoundError",
           "OutOfRangeError", "UnimplementedError", "AlreadyExistsError"]


class OpError(Exception):
    def __init__(self, message, op=None, node_def=None, error_code=None):
        super().__init__(message)
        self.message = message
        self.op = op
        self.node_def = node_def
        self.error_code = error_code


class InvalidArgumentError(OpError, ValueError):
    pass


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
