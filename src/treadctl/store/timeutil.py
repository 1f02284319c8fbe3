"""Timestamps in the session database: UTC, ISO 8601, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(wall_s: float) -> str:
    """Seconds since the epoch as e.g. 2025-01-31T09:15:02.250+00:00."""
    return datetime.fromtimestamp(wall_s, UTC).isoformat(timespec="milliseconds")


def parse_utc(text: str) -> float:
    """The inverse of utc_iso: seconds since the epoch."""
    return datetime.fromisoformat(text).timestamp()
