"""The real sound path: PortAudio's own audio thread calling the scheduler, on an ALSA
null device (a real PCM that discards what it gets), and the no-device answers.

ALSA_CONFIG_PATH replaces ALSA's whole configuration for the child process, so what this
machine has (here and on CI: no sound card) does not matter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHILD_TIMEOUT_S = 120

NULL_PCM = """pcm.!default {\n  type null\n}\nctl.!default {\n  type hw\n  card 0\n}\n"""
NO_CARD = """pcm.!default {\n  type hw\n  card 99\n}\nctl.!default {\n  type hw\n  card 99\n}\n"""


def portaudio() -> bool:
    try:
        import sounddevice  # type: ignore[import-untyped]  # noqa: F401, PLC0415
    except (ImportError, OSError):
        return False
    return True


pytestmark = pytest.mark.skipif(
    not portaudio(), reason="python-sounddevice or libportaudio2 is not installed"
)


def child(tmp: Path, alsa: str, device: str = "-") -> dict[str, object]:
    conf = tmp / "asound.conf"
    conf.write_text(alsa)
    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    out = subprocess.run(
        [sys.executable, str(HERE / "output_child.py"), device],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, out.stdout + out.stderr
    report: dict[str, object] = json.loads(lines[-1])
    return report


def test_audio_thread_clicks_follows_and_falls_silent(tmp_path: Path) -> None:
    r = child(tmp_path, NULL_PCM)
    assert r["reason"] == ""
    assert r["device"] == "default"
    assert r["clicked_120"] is True
    assert r["clicked_200"] is True  # the swap reached the audio thread
    assert r["silent_beats"] == 0  # and so did silence: ten seconds of audio, no click
    assert isinstance(r["callbacks"], int)
    assert r["callbacks"] > 0
    assert r["errors"] == 0


def test_no_sound_device_is_a_reason_not_an_error(tmp_path: Path) -> None:
    r = child(tmp_path, NO_CARD)
    assert r["reason"] == "no sound output device (PortAudio finds none)"
    assert "clicked_120" not in r


def test_unknown_device_is_named(tmp_path: Path) -> None:
    r = child(tmp_path, NULL_PCM, "no-such-speaker")
    assert "no-such-speaker" in str(r["reason"])
    assert "clicked_120" not in r


def test_controller_clicks_through_the_real_callback(tmp_path: Path) -> None:
    """A real session with the bridge: PortAudio's thread clicks while the cued segment
    runs, and stops when the session ends; the output is closed at the end.

    The null device calls back as fast as it can (a worst case for the loop: see
    docs/performance.md), so nothing here depends on the session's own timing."""
    conf = tmp_path / "asound.conf"
    conf.write_text(NULL_PCM)
    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    run = subprocess.run(
        [sys.executable, str(HERE / "serve_child.py"), "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    r = json.loads([x for x in run.stdout.splitlines() if x.startswith("{")][-1])
    assert r["reason"] == "", r
    assert "metronome_ready" in r["events"]
    assert isinstance(r["clicked"], int)
    assert r["clicked"] > 0
    assert r["changes"][0] == 120.0
    assert r["changes"][-1] is None
    assert r["clicks_after_end"] == 0
    assert r["errors"] == 0
    assert r["stream_closed"] is True
