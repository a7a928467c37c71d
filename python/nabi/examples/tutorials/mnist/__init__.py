"""`nabi.examples.tutorials.mnist`: `input_data.read_data_sets`."""
from . import input_data  # noqa: F401
