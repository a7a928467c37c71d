"""nabi.keras (placeholder; the engine engineer provides the real package init)."""
