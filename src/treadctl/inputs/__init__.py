"""Safety inputs: the ABC and its backends."""
