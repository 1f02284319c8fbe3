"""What treadctl's aiomqtt clients share (the bridge, the heart-rate gateway source): a
queue class that hands each received message on instead of holding it.

On the ground floor, so that heartrate/ (hardware) and mqtt/ (the bridge, far above)
both use it without the one importing the other (issue 23).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiomqtt


def queue_class(receive: Callable[[aiomqtt.Message], None]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """An asyncio.Queue subclass for aiomqtt's `queue_type` that never holds a message:
    each one goes to `receive` (which must not raise) in the client's loop thread."""

    class ToInbox(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            receive(item)

    return ToInbox


__all__ = ["queue_class"]
