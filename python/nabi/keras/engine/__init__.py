"""Training-engine internals (`nabi.keras.engine.data_adapter`)."""
