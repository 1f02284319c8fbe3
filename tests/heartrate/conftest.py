"""Fixtures for the heart-rate tests.

bumble reports some faults (a reply to an HCI command nobody waits for any more, an
exception in a callback) only through the event loop's exception handler, which logs on
the `asyncio` logger and fails nothing. Every test here fails if that logger reports an
error, teardown included, so a stack left in a bad state cannot pass unseen.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mqtt"))


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _no_asyncio_errors() -> Iterator[None]:
    handler = _Collect()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.records, "asyncio logged: " + "; ".join(
        r.getMessage() for r in handler.records
    )


@pytest.fixture(autouse=True)
def _real_clock_heap(frozen_heap: None) -> None:
    """The sources run on the real clock in this process: see tests/conftest.py."""
