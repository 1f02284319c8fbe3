"""The click track's timing, measured on the rendered WAV file (the sound output's code path)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from onsets import onsets, read_wav, timing
from pydantic import ValidationError

from treadctl.config.metronome import MetronomeConfig
from treadctl.metronome.beat import BEAT_FLASH_S, BeatFollower, beat_count, beat_showing
from treadctl.metronome.click import synthesize
from treadctl.metronome.player import render_wav
from treadctl.metronome.schedule import ClickScheduler

RATE = 48000
CONFIG = MetronomeConfig(enabled=True, sample_rate_hz=RATE)


def scheduler(config: MetronomeConfig = CONFIG) -> ClickScheduler:
    return ClickScheduler(synthesize(config), config.sample_rate_hz)


def render(
    tmp: Path,
    seconds: float,
    changes: list[tuple[float, float | None]],
    block: int = 480,  # 10 ms: every change time below falls on a block's start
    name: str = "t.wav",
) -> np.ndarray:
    path = tmp / name
    render_wav(path, scheduler(), seconds, block, changes)
    data, rate = read_wav(path)
    assert rate == RATE
    assert len(data) == round(seconds * RATE)
    return onsets(data, rate)


@pytest.mark.parametrize("spm", [30.0, 100.0, 113.7, 200.0])
def test_each_click_on_its_sample(tmp_path: Path, spm: float) -> None:
    """Beat k at round(k * period) samples after the cadence began: tempo and phase exact."""
    on = render(tmp_path, 60.0, [(0.0, spm)])
    period = RATE * 60.0 / spm
    expected = np.array([round(k * period) for k in range(math.ceil(60.0 * RATE / period))])
    assert on.tolist() == expected.tolist()
    t = timing(on, RATE, spm)
    assert t.tempo_error_pct < 0.01
    assert t.jitter_max_ms < 1000.0 / RATE  # the rounding to a sample, nothing else


def test_block_size_changes_nothing(tmp_path: Path) -> None:
    """Where a click lands does not depend on how the sound system slices the stream."""
    changes: list[tuple[float, float | None]] = [(0.0, 97.0), (7.3, 181.0), (12.0, None)]
    small = render(tmp_path, 15.0, changes, block=64, name="a.wav")
    # A change is applied at the first block starting at or after its time: both block
    # sizes divide 7.3 s and 12 s at 48 kHz, so that is the same sample in both.
    large = render(tmp_path, 15.0, changes, block=4800, name="b.wav")
    assert small.tolist() == large.tolist()
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


@pytest.mark.parametrize(
    ("old", "new", "at_s"),
    [(100.0, 150.0, 10.05), (150.0, 60.0, 10.05), (60.0, 200.0, 10.9), (200.0, 30.0, 10.1)],
)
def test_change_takes_effect_at_the_next_beat(
    tmp_path: Path, old: float, new: float, at_s: float
) -> None:
    """No click doubled or dropped: the beat in progress ends somewhere between the two
    periods, then the new period holds exactly."""
    on = render(tmp_path, 30.0, [(0.0, old), (at_s, new)])
    p_old, p_new = RATE * 60 / old, RATE * 60 / new
    change = round(at_s * RATE)
    before = on[on < change]
    after = on[on >= change]
    assert np.all(np.abs(np.diff(before) - p_old) <= 1)
    gap = after[0] - before[-1]  # the beat across the change
    assert min(p_old, p_new) - 1 <= gap <= max(p_old, p_new) + 1
    if p_new >= p_old:  # slowing down: the next click is one new beat after the last
        assert abs(gap - p_new) <= 1
    assert np.all(np.abs(np.diff(after) - p_new) <= 1)
    # Counted: the clicks are the old beats up to the change and the new ones after it.
    assert len(after) == 1 + math.floor((30.0 * RATE - 1 - after[0]) / p_new)


def test_silence_and_resume(tmp_path: Path) -> None:
    """None silences at once; a cadence again starts with a click, never within a beat of
    the last one."""
    on = render(tmp_path, 20.0, [(0.0, 120.0), (5.0, None), (9.0, 120.0), (9.2, None),
                                 (9.21, 120.0)])  # fmt: skip
    p = RATE * 60 / 120.0
    assert on[on < 5 * RATE].tolist() == [round(k * p) for k in range(10)]
    assert not np.any((on >= 5 * RATE) & (on < 9 * RATE))
    resumed = on[on >= 9 * RATE]
    assert resumed[0] == 9 * RATE
    assert np.all(np.diff(resumed) >= p - 1)  # the off-on at 9.2 s doubles no click
    assert resumed.tolist() == [9 * RATE + round(k * p) for k in range(len(resumed))]


def test_beat_counter_counts_the_clicks(tmp_path: Path) -> None:
    s = scheduler()
    render_wav(tmp_path / "c.wav", s, 30.0, 512, [(0.0, 100.0), (10.0, 140.0)])
    data, rate = read_wav(tmp_path / "c.wav")
    assert s.beats == len(onsets(data, rate)) > 0


@pytest.mark.parametrize("spm", [30.0, 77.7, 200.0])
def test_visible_beat_agrees_with_the_clicks(tmp_path: Path, spm: float) -> None:
    """The dashboard's function lights at each click and is dark half a beat later."""
    on = render(tmp_path, 40.0, [(0.0, spm)])
    period_s = 60.0 / spm
    for k, sample in enumerate(on):
        t = (sample + 1) / RATE  # a click is on its beat to within half a sample
        assert beat_showing(spm, t)
        assert not beat_showing(spm, t + period_s / 2)
        assert beat_count(spm, t) == k + 1
    assert beat_count(spm, -0.1) == 0
    assert not beat_showing(spm, -0.1)


BAD = [math.nan, math.inf, -math.inf, 29.9, 200.01, 0.0, -100.0, True, "100"]


@pytest.mark.parametrize("bad", BAD)
def test_hostile_cadence_refused(bad: object) -> None:
    s = scheduler()
    s.set_cadence(100.0)
    with pytest.raises(ValueError, match="cadence"):
        s.set_cadence(bad)  # type: ignore[arg-type]
    assert s.cadence_spm == 100.0  # the cadence in effect is kept
    with pytest.raises(ValueError, match="cadence"):
        beat_showing(bad, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cadence"):
        beat_count(bad, 1.0)  # type: ignore[arg-type]


def test_hostile_times_refused() -> None:
    for t in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            beat_showing(100.0, t)
        with pytest.raises(ValueError, match="finite"):
            beat_count(100.0, t)
    with pytest.raises(ValueError, match="finite"):
        beat_showing(100.0, 1.0, flash_s=0.0)


@pytest.mark.parametrize(
    "fields",
    [{"volume": math.nan}, {"volume": 1.5}, {"click_ms": math.inf}, {"click_ms": 101.0},
     {"sample_rate_hz": 1000}, {"block_frames": 10**6}, {"enabled": "yes"}, {"device": ""},
     {"click": "gong"}, {"speaker": "left"}],
)  # fmt: skip
def test_config_refuses_hostile_fields(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MetronomeConfig.model_validate(fields)


def test_render_bounds(tmp_path: Path) -> None:
    for seconds in (0.0, -1.0, math.nan, 3601.0):
        with pytest.raises(ValueError, match="duration_s"):
            render_wav(tmp_path / "x.wav", scheduler(), seconds, 512)


@pytest.mark.parametrize(
    "changes",
    [
        [(0.0, 100.0), (10.0, 150.0), (20.0, 60.0)],  # 10 s: exactly on a beat at 100
        [(0.0, 100.0), (10.25, 200.0), (13.0, None), (15.5, 30.0), (21.01, 113.7)],
        [(1.0, 77.0), (1.2, None), (1.3, 77.0), (8.0, None), (8.01, 200.0)],
    ],
)
def test_follower_agrees_with_the_clicks(
    tmp_path: Path, changes: list[tuple[float, float | None]]
) -> None:
    """The dashboard's follower, given the same changes at the same times, lights at every
    click, is dark between them, and counts them, across changes and silences."""
    on = render(tmp_path, 30.0, changes)
    follower = BeatFollower()
    pending = list(changes)
    times = on / RATE
    for k, t in enumerate(times):
        while pending and pending[0][0] <= t:  # what the dashboard has seen by then
            at_s, spm = pending.pop(0)
            follower.update(spm, at_s)
        assert follower.showing(t + 1 / RATE), (k, t)
        assert follower.count(t + 1 / RATE) == k + 1, (k, t)
        if k + 1 < len(times):
            mid = (t + times[k + 1]) / 2
            if not pending or pending[0][0] > mid:
                assert not follower.showing(mid), (k, mid)
    assert len(on) > 10
    for at_s, spm in changes:  # dark through every silence (checked after its start)
        if spm is None:
            quiet = [t for t in times if t >= at_s]
            end = quiet[0] if quiet else 30.0
            probe = BeatFollower()
            for c_at, c_spm in changes:
                if c_at <= at_s:
                    probe.update(c_spm, c_at)
            assert not any(probe.showing(at_s + BEAT_FLASH_S + i * 0.01)
                           for i in range(int((end - at_s - BEAT_FLASH_S) / 0.01)))  # fmt: skip
