"""`nabi.examples.tutorials` (as `tensorflow.examples.tutorials`)."""
