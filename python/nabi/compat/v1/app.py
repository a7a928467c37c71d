"""`tf.app` (TF1): `run(main=None, argv=None)` and a minimal `flags`."""
import sys


def run(main=None, argv=None):
    if main is None:
        main = sys.modules["__main__"].main
    args = argv if argv is not None else sys.argv
    sys.exit(main(args))


class _Flags:
    def __init__(self):
        object.__setattr__(self, "_values", {})

    def __getattr__(self, k):
        try:
            return self._values[k]
        except KeyError:
            raise AttributeError(k) from None

    def __setattr__(self, k, v):
        self._values[k] = v


class flags:  # noqa: N801
    FLAGS = _Flags()

    @staticmethod
    def _define(name, default, help=None):  # noqa: A002
        flags.FLAGS._values[name] = default

    DEFINE_string = DEFINE_integer = DEFINE_float = DEFINE_boolean = DEFINE_bool = _define
