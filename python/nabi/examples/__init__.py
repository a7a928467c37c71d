"""Examples shipped with nabi (TF1-style tutorial helpers)."""
