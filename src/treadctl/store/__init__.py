"""Session records."""
