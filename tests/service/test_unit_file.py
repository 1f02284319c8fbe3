"""deploy/: the unit passes `systemd-analyze verify` without a single warning, and the
sysusers file makes the treadctl user a member of dialout. Skipped without systemd."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from service_kit import ROOT

ANALYZE = shutil.which("systemd-analyze")
SYSUSERS = shutil.which("systemd-sysusers")
UNIT = ROOT / "deploy" / "treadctl.service"
INSTALLED_AT = "/usr/local/bin/treadctl"
MAX_EXPOSURE = 2.5  # 1.7 today; serial ports, IP (Modbus TCP, MQTT) and RT priority cost the rest


def verify(unit_text: str, where: Path) -> subprocess.CompletedProcess[str]:
    """verify checks that ExecStart's program exists: point it at this venv's treadctl."""
    assert ANALYZE is not None
    exe = shutil.which("treadctl") or str(ROOT / ".venv" / "bin" / "treadctl")
    unit = where / "treadctl.service"
    unit.write_text(unit_text.replace(INSTALLED_AT, exe))
    return subprocess.run(
        [ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")
def test_the_unit_verifies_cleanly(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert INSTALLED_AT in text
    done = verify(text, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # an unknown key is only a warning


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")
def test_a_mistyped_key_is_caught(tmp_path: Path) -> None:
    """The check above can fail: one letter off and verify says so."""
    done = verify(UNIT.read_text().replace("WatchdogSec=", "WatchdgSec="), tmp_path)
    assert "WatchdgSec" in done.stderr


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")
def test_the_hardening_keeps_exposure_low(tmp_path: Path) -> None:
    """systemd's own score of the sandbox (10 = none): a guard against losing it."""
    assert ANALYZE is not None
    assert verify(UNIT.read_text(), tmp_path).returncode == 0  # writes the unit there
    done = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(tmp_path / "treadctl.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for treadctl.service: ([0-9.]+)", done.stdout)
    assert match is not None, done.stdout + done.stderr
    exposure = float(match.group(1))
    print(f"\nsystemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE


def test_the_unit_says_what_the_service_promises() -> None:
    keys = [
        line.strip()
        for line in UNIT.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in (
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "SuccessExitStatus=4",
        "RestartPreventExitStatus=2",
        "ProtectSystem=strict",
        "StateDirectory=treadctl",
        "SupplementaryGroups=dialout",
        "User=treadctl",
    ):
        assert needed in keys, needed
    watchdog = [k for k in keys if k.startswith("WatchdogSec=")]
    assert watchdog == ["WatchdogSec=2s"]
    assert any(k.startswith("StartLimitBurst=") for k in keys)
    env = (ROOT / "deploy" / "treadctl.env").read_text()
    assert "TREADCTL_MACHINE=/etc/treadctl/" in env
    assert "TREADCTL_PROFILE=/etc/treadctl/" in env


@pytest.mark.skipif(SYSUSERS is None, reason="systemd-sysusers not installed")
def test_sysusers_creates_the_user_in_dialout(tmp_path: Path) -> None:
    assert SYSUSERS is not None
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")
    done = subprocess.run(
        [SYSUSERS, f"--root={tmp_path}", str(ROOT / "deploy" / "treadctl.sysusers.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    passwd = (etc / "passwd").read_text()
    assert "treadctl:" in passwd
    assert "/var/lib/treadctl:" in passwd
    assert "dialout:x:20:treadctl" in (etc / "group").read_text()
