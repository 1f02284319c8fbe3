"""The loop's peripherals as components, ros2_control's hardware interfaces in small.

Every peripheral the loop talks to (the drive, the safety inputs, the powered incline,
the heart-rate source, and any later sensor) is one `Component`: `open`, `read` (this
cycle's reading and the time of the last good one), `write` (the command the control
step left in `command`), `close` and `health`. The loop reads every component, steps
safety, steps control and writes every component, in that order, and knows nothing else
about them: a new sensor is a component and a rule (treadctl.control.extension), never
an edit of the loop.

A failed or late read is never a fresh value: `ok_at` is when the last good reading was
taken, and its age is the rules' to judge against the input's stated maximum age. The
safety inputs keep their last good reading through a failed read (PROFIsafe's watchdog
time): one late answer is no trip, and past `input_read_timeout_s` the interlock trips,
naming the input; a reading that reports a fault (e-stop open, key out) trips at once.
The drive and the incline give no reading for a failed cycle (`value` None: speed held,
no start, no standstill) until their own maximum age trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from treadctl.drives.base import Drive, DriveCommand, DriveError, WatchdogSetting
from treadctl.heartrate.base import BackgroundHeartRate
from treadctl.incline.base import InclineActuator, InclineCommand, InclineError
from treadctl.inputs.base import HeartRateSource, InputError, SafetyInputSource
from treadctl.safety.types import DriveStatus, SafetyIO

V = TypeVar("V")
C = TypeVar("C")
Log = Callable[..., None]  # (now, kind, **fields): the loop's event log
# A background heart-rate source is given this long to stop at close(); each of its own
# steps is bounded already, this bounds the sum.
HR_STOP_TIMEOUT_S = 10.0


class ComponentError(Exception):
    """A component could not be opened: nothing moved."""


def bounded(coro: Awaitable[Any], guard: float | None) -> Awaitable[Any]:
    """The backend's own awaitable when no guard applies (the virtual clock), else one
    bounded by the guard: no extra coroutine frame on the fast path."""
    if guard is None:
        return coro
    return _guarded(coro, guard)


async def _guarded(coro: Awaitable[Any], guard: float) -> Any:
    async with asyncio.timeout(guard):
        return await coro


class Component(ABC, Generic[V, C]):
    """One peripheral: its reading with its time, its command, its health."""

    name: str
    holds_last_good = False  # a failed read keeps the last good value (its age still grows)

    def __init__(self, log: Log) -> None:
        self.log = log
        self.value: V | None = None  # this cycle's reading; None: none (failed, or not read)
        self.ok_at = 0.0  # loop time of the last good reading
        self.command: C | None = None  # what the next write sends; None: nothing
        self.guard: float | None = None  # the bound on each await (None: virtual clock)
        self.failing: str | None = None  # the read failure now lasting, in words
        self.write_failing: str | None = None

    def age_s(self, now: float) -> float:
        return now - self.ok_at

    def health(self) -> str | None:
        """None while healthy; else why not (a read or write failing now)."""
        return self.failing or self.write_failing

    async def open(self) -> None:
        """Open the link; raise ComponentError (with the reason) when it cannot be."""

    @abstractmethod
    async def read(self, now: float) -> None: ...

    async def write(self, now: float) -> None:
        """Send `command`; a failure is logged once and kept in `health`."""

    async def close(self) -> None:
        """Close the link (after the final safe write); never raises."""

    def read_ok(self, now: float) -> None:
        self.ok_at = now
        if self.failing is not None:
            self.failing = None
            self.log(now, "read_recovered", source=self.name)

    def read_failed(self, now: float, exc: BaseException) -> None:
        if not self.holds_last_good:
            self.value = None
        if self.failing is None:
            self.failing = str(exc) or f"{self.name}: no answer within the cycle's time budget"
            self.log(now, "read_failed", source=self.name, reason=self.failing)

    def wrote(self, ok: bool, now: float, exc: BaseException | None = None, what: str = "") -> None:
        if ok:
            self.write_failing = None
        elif self.write_failing is None:
            self.write_failing = str(exc) or f"{self.name}: no answer within the {what}budget"
            self.log(now, "write_failed", source=self.name, reason=self.write_failing)


class InputsComponent(Component[SafetyIO, None]):
    """The e-stop chain, the safety key and the handrails: the hardware chain stops the
    belt by itself, so the last good reading stands within its maximum age."""

    holds_last_good = True

    def __init__(self, source: SafetyInputSource, log: Log) -> None:
        super().__init__(log)
        self.source = source
        self.name = source.name

    async def open(self) -> None:
        try:
            await self.source.open()
        except InputError as exc:
            raise ComponentError(f"{exc.source}: cannot open: {exc.reason}") from exc

    async def read(self, now: float) -> None:
        guard = self.guard
        try:
            read = self.source.read()
            self.value = await (read if guard is None else _guarded(read, guard))
        except (InputError, TimeoutError) as exc:
            self.read_failed(now, exc)
            return
        self.read_ok(now)

    async def close(self) -> None:
        with contextlib.suppress(InputError, OSError):
            await self.source.close()


class DriveComponent(Component[DriveStatus, DriveCommand]):
    """The motor drive: status in, run/direction/reference out. A reading counts as good
    (its age restarts) only while the writes go through too: a drive that answers reads
    but refuses commands is not under control.

    Within its maximum age (`drive_read_timeout_s`) a failed or late status read trips
    nothing, as the safety inputs' does, but unlike theirs the last good status is not
    offered again: the rules verify standstill, allow a start and let the speed rise only
    on this cycle's reading, so a missed cycle holds the speed and gives no standstill and
    no start. Past the maximum age the interlock trips ("drive stopped answering")."""

    def __init__(self, drive: Drive, log: Log) -> None:
        super().__init__(log)
        self.drive = drive
        self.name = drive.name
        self.codes = (0, 0)  # (fault, warning) last named in the event log
        self.watchdog = WatchdogSetting(0.0, "")

    async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:
        try:
            self.watchdog = await self.drive.connect(comm_loss_timeout_s)
        except DriveError as exc:
            raise ComponentError(f"{exc.source}: cannot connect: {exc.reason}") from exc
        return self.watchdog

    async def read(self, now: float) -> None:
        guard = self.guard
        try:
            read = self.drive.read_status()
            status = await (read if guard is None else _guarded(read, guard))
            speed = status.actual_speed_kmh
            if not (speed >= 0.0 and speed != math.inf):  # NaN, negative or infinite
                raise DriveError(self.name, f"implausible speed reading {speed!r}")
        except (DriveError, TimeoutError) as exc:
            self.read_failed(now, exc)
            return
        self.value = status
        codes = self.codes
        if status.fault_code != codes[0] or status.warning_code != codes[1]:
            self._codes_changed(now, status)
        if self.write_failing is None:
            self.ok_at = now
        if self.failing is not None:
            self.failing = None
            self.log(now, "read_recovered", source=self.name)

    def _codes_changed(self, now: float, status: DriveStatus) -> None:
        """Name a new drive fault or warning in the manual's words, once per change."""
        fault, warning = self.codes
        self.codes = (status.fault_code, status.warning_code)
        d = self.drive
        if status.fault_code != fault and status.fault_code:
            self.log(
                now, "drive_fault", code=status.fault_code, text=d.describe_fault(status.fault_code)
            )
        if status.warning_code != warning:
            text = d.describe_warning(status.warning_code) if status.warning_code else ""
            self.log(now, "drive_warning", code=status.warning_code, text=text)

    async def write(self, now: float) -> None:
        command = self.command
        if command is None:
            return
        guard = self.guard
        try:
            write = self.drive.write_command(command)
            await (write if guard is None else _guarded(write, guard))
        except (DriveError, TimeoutError) as exc:
            self.wrote(False, now, exc, "cycle's time ")
            return
        self.write_failing = None

    async def reset_fault(self) -> None:
        await bounded(self.drive.reset_fault(), self.guard)

    async def close(self) -> None:
        with contextlib.suppress(DriveError, OSError):
            await self.drive.close()


class HeartRateComponent(Component[float, None]):
    """A heart-rate source. A background source (radio, broker) knows its sample's own
    age; "now minus the cycle that last saw a value" would hide up to its staleness
    limit, so on the real clock the sample's own age is given."""

    name = "heart-rate"

    def __init__(self, source: HeartRateSource, log: Log, *, virtual: bool) -> None:
        super().__init__(log)
        self.source = source
        self.seen = False  # a value was ever read
        self.sample_age_s: float | None = None
        self._aged = None if virtual or not isinstance(source, BackgroundHeartRate) else source

    async def open(self) -> None:
        if isinstance(self.source, BackgroundHeartRate):
            self.source.start()  # its own task: returns at once (a no-op if started)

    async def read(self, now: float) -> None:
        self.value = bpm = await self.source.read_bpm()
        if bpm is not None:
            self.ok_at, self.seen = now, True
        if self._aged is not None:
            self.sample_age_s = self._aged.age_s() if bpm is not None else None
        else:
            self.sample_age_s = now - self.ok_at if self.seen else None

    async def close(self) -> None:
        source = self.source
        if isinstance(source, BackgroundHeartRate):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(HR_STOP_TIMEOUT_S):
                    await source.stop()


class InclineComponent(Component[float, InclineCommand]):
    """The powered incline: position in %, up/down or a position setpoint out."""

    def __init__(self, actuator: InclineActuator, log: Log) -> None:
        super().__init__(log)
        self.actuator = actuator
        self.name = actuator.name

    async def open(self) -> None:
        try:
            await self.actuator.open()
            await self.actuator.write(InclineCommand.halt())
        except InclineError as exc:
            raise ComponentError(f"{exc.source}: cannot open: {exc.reason}") from exc

    async def read(self, now: float) -> None:
        try:
            pct = await bounded(self.actuator.read_position_pct(), self.guard)
            if not math.isfinite(pct):
                raise InclineError(self.name, f"implausible reading {pct!r}")
        except (InclineError, TimeoutError) as exc:
            self.read_failed(now, exc)
            return
        self.value = pct
        self.read_ok(now)

    async def write(self, now: float) -> None:
        command = self.command
        if command is None:
            return
        try:
            await bounded(self.actuator.write(command), self.guard)
        except (InclineError, TimeoutError) as exc:
            self.wrote(False, now, exc, "cycle's ")
            return
        self.write_failing = None

    async def close(self) -> None:
        with contextlib.suppress(InclineError, OSError):
            await self.actuator.close()
