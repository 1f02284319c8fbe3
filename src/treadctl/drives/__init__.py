"""Motor drives: the ABC and its backends."""
