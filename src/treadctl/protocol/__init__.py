"""Profile sequencing."""
