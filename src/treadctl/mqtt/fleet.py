"""What the monitor knows about each treadmill of a site, from the messages it received.

Pure: feed it (topic, payload, receipt time) and ask for table rows and detail lines.
A payload that does not validate is counted and ignored, never trusted half-way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pydantic import ValidationError

from treadctl.mqtt import topics
from treadctl.mqtt.payloads import (
    Availability,
    CommandResult,
    EventMsg,
    Snapshot,
    State,
    Summary,
    Telemetry,
    any_payload,
)

STALE_S = 5.0  # online, but no telemetry or state for this long: "stale"
EVENTS_KEPT = 12
COLUMNS = ("Treadmill", "Link", "Mode", "Dir", "Belt km/h", "Target", "Segment", "Interlock",
           "Alarms", "Seen")  # fmt: skip
# the widest word each column can show, so that none is cut ("offline", not "offlin")
WIDTHS = {"Link": len("OFFLINE (will)"), "Mode": len("reset required")}
POWER_ON = "controller started: reset required"  # Reason.POWER_ON's words in the payload


@dataclass
class Treadmill:
    name: str
    status: Availability | None = None
    state: State | None = None
    telemetry: Telemetry | None = None
    summary: Summary | None = None
    result: CommandResult | None = None
    events: deque[EventMsg] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    seen_at: float = 0.0  # receipt time of the latest state or telemetry

    @property
    def latest(self) -> Snapshot | None:
        """The newer of the last telemetry and the last (retained) state."""
        t, s = self.telemetry, self.state
        if t is None or (s is not None and s.sampled_at > t.sampled_at):
            return s
        return t

    def link(self, now: float) -> str:
        if self.status is None:
            return "?"
        if self.status.state == "offline":
            return "OFFLINE (will)" if self.status.will else "offline"
        if self.latest is None or now - self.seen_at > STALE_S:
            return "stale"
        return "online"


def power_on_latch(s: Snapshot) -> bool:
    """Latched only because the controller has just started: not a fault (the dashboard
    shows it as RESET REQUIRED, in amber)."""
    return s.mode == "faulted" and list(s.reasons) == [POWER_ON]


def mode_word(s: Snapshot) -> str:
    if power_on_latch(s):
        return "reset required"
    return s.mode.upper() if s.mode == "faulted" else s.mode


def _kmh(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _ago(now: float, then: float) -> str:
    if not then:
        return "-"
    s = max(0.0, now - then)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


@dataclass
class Fleet:
    site: str
    treadmills: dict[str, Treadmill] = field(default_factory=dict)
    bad_payloads: int = 0

    def update(self, topic: str, payload: bytes, now: float) -> str | None:
        """Take one message; the treadmill's name when it changed anything."""
        where = topics.parse(topic)
        if where is None or where[0] != self.site or where[2] is topics.COMMAND:
            return None
        _, name, _ = where
        if not payload:  # a retained message being cleared
            return None
        try:
            msg = any_payload.validate_json(payload)
        except ValidationError:
            self.bad_payloads += 1
            return None
        if msg.treadmill != name or msg.site != self.site:
            self.bad_payloads += 1  # a payload that claims to be another treadmill's
            return None
        tm = self.treadmills.setdefault(name, Treadmill(name))
        if isinstance(msg, Availability):
            tm.status = msg
        elif isinstance(msg, Telemetry):
            tm.telemetry, tm.seen_at = msg, now
        elif isinstance(msg, State):
            tm.state, tm.seen_at = msg, max(tm.seen_at, now)
        elif isinstance(msg, EventMsg):
            tm.events.append(msg)
        elif isinstance(msg, Summary):
            tm.summary = msg
        elif isinstance(msg, CommandResult):
            tm.result = msg
        return name

    def row(self, name: str, now: float) -> tuple[str, ...]:
        tm = self.treadmills[name]
        s = tm.latest
        link = tm.link(now)
        if s is None:
            return (name, link, "-", "-", "-", "-", "-", "-", "-", _ago(now, tm.seen_at))
        seg = f"{s.segment.index + 1} {s.segment.label}" if s.segment is not None else "-"
        alarms = ", ".join(a.label for a in s.alarms if a.level == "fault") or (
            f"{len(s.alarms)} warn" if s.alarms else "-"
        )
        return (
            name,
            link,
            mode_word(s),
            s.direction,
            _kmh(s.actual_kmh),
            _kmh(s.target_kmh),
            seg,
            s.interlock.upper() if s.interlock == "fault" else s.interlock,
            alarms,
            _ago(now, tm.seen_at),
        )

    def detail(self, name: str, now: float) -> list[str]:
        tm = self.treadmills.get(name)
        if tm is None:
            return [f"{name}: nothing received"]
        out = [f"{self.site}/{name}: {tm.link(now)}"]
        st = tm.status
        if st is not None:
            out.append(f"  status: {st.state} ({st.reason})")
            if st.session is not None:
                who = f", patient {st.session.patient}" if st.session.patient else ""
                sim = " (simulated)" if st.session.simulated else ""
                out.append(f"  session: {st.session.profile} on {st.session.machine}{sim}{who}")
        s = tm.latest
        if s is not None:
            out.append(
                f"  {s.mode}, {s.direction}: belt {_kmh(s.actual_kmh)} km/h, target "
                f"{_kmh(s.target_kmh)}, command {_kmh(s.setpoint_kmh)}, cap {_kmh(s.cap_kmh)}"
            )
            hr = "-" if s.heart_rate_bpm is None else f"{s.heart_rate_bpm:.0f} bpm"
            out.append(
                f"  incline {s.incline_pct:g} %, heart rate {hr}, session "
                f"{s.session_elapsed_s:.0f} s done, {s.session_remaining_s:.0f} s left"
            )
            if s.segment is not None:
                out.append(
                    f"  segment {s.segment.index + 1} {s.segment.label} ({s.segment.kind}, "
                    f"{s.segment.target_kmh:g} km/h), {s.segment_remaining_s:.0f} s left"
                )
            if power_on_latch(s):
                out.append(
                    "  reset required (power-on): the controller has started; the operator "
                    "checks the belt is clear and presses r at the dashboard"
                )
            out.append(f"  interlock {s.interlock}: {', '.join(s.reasons) or 'no reasons'}")
            out += [f"  {a.level.upper()} {a.label}: {a.text}" for a in s.alarms]
            if s.remote_pending:
                out.append(f"  {s.remote_pending} remote request(s) await the operator")
            if s.dropped_telemetry or s.dropped_events:
                out.append(
                    f"  bridge dropped {s.dropped_telemetry} telemetry, "
                    f"{s.dropped_events} events (broker slow or away)"
                )
        if tm.result is not None:
            r = tm.result
            verdict = "accepted" if r.accepted else "REFUSED"
            out.append(f"  last command {r.id} {r.action}: {verdict}: {r.text}")
        if tm.summary is not None:
            out.append(f"  last session: {tm.summary.outcome}")
        if tm.events:
            out.append("  events:")
            out += [f"    {e.text or e.event}" for e in tm.events]
        return out


__all__ = ["COLUMNS", "WIDTHS", "Fleet", "Treadmill", "mode_word", "power_on_latch"]
