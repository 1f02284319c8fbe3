"""The remote desk holds a bounded number of requests, whatever publishers send."""

from __future__ import annotations

from treadctl.api.messages import Action
from treadctl.api.remote import RemoteDesk


def test_a_newer_request_from_the_same_origin_replaces_the_older() -> None:
    desk = RemoteDesk()
    first = desk.ask("mqtt:desk", Action.SPEED, 0.0, speed_kmh=1.0)
    second = desk.ask("mqtt:desk", Action.SPEED, 1.0, speed_kmh=1.5)
    assert first is not None
    assert second is not None
    assert [(r.ref, r.speed_kmh) for r in desk.listing()] == [(second, 1.5)]
    assert desk.confirm(first, 2.0, "dash") is None  # replaced: it cannot be confirmed
    assert desk.confirm(second, 2.0, "dash") is not None


def test_at_most_max_held_wait_and_then_new_ones_are_refused() -> None:
    desk = RemoteDesk(max_held=3)
    refs = [desk.ask(f"mqtt:o{i}", Action.START, 0.0) for i in range(5)]
    assert refs[3:] == [None, None]
    assert len(desk.listing()) == 3
    desk.expire(desk.ttl_s + 1)  # once they expire there is room again
    assert desk.ask("mqtt:late", Action.START, desk.ttl_s + 1) is not None
