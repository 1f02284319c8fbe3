"""The built-in simulator: belt physics, the hardware safety chain, fault injection."""
