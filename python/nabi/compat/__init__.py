"""`nabi.compat`: `nabi.compat.v1` runs TensorFlow-1 graph programs (`import nabi.compat.v1 as
tf`); `nabi.compat.v2` is nabi itself."""
import nabi as v2  # noqa: F401
from . import v1  # noqa: F401
