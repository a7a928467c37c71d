"""`nabi.io`: reading and writing files and decoding images (tf.io)."""
