"""The sample files shipped with the package, reached by name from any directory.

Every subprocess runs the installed `treadctl` console script with a temporary
directory outside the repository as its working directory, so nothing can be found
relative to the checkout: a name must come from the package data
(treadctl/samples/{machines,profiles,patients,scenarios}).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from treadctl import samples
from treadctl.app import load_session
from treadctl.config.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
TREADCTL = Path(sys.executable).with_name("treadctl")


def treadctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert not cwd.resolve().is_relative_to(REPO)
    return subprocess.run(
        [str(TREADCTL), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def test_the_samples_live_in_the_package_and_the_profiles_at_the_top() -> None:
    """Package data, except the profiles: in a checkout they live at its top, profiles/
    (the design's home for them), and the wheel carries them into the package."""
    package = Path(samples.__file__).parent
    for kind in samples.FOLDERS:
        if kind != "profile":
            assert samples.folder(kind).parent == package
        assert samples.names(kind), kind
    assert samples.folder("profile") == REPO / "profiles"
    assert not (package / "profiles").exists(), "one home for the profiles: profiles/"
    assert "sim" in samples.names("machine")
    assert "backward-intro-15min" in samples.names("profile")
    assert "demo" in samples.names("patient")
    assert "estop-backward" in samples.names("scenario")
    for old in ("machines", "patients"):
        assert not list((REPO / old).glob("*.toml")), f"{old}/ is shipped as package data now"
    assert not list((REPO / "hil").glob("*.toml")), "hil/ scenarios are package data now"


def test_the_wheel_carries_the_profiles_as_package_data(tmp_path: Path) -> None:
    """Built from the checkout as pip builds it: every shipped profile is in the wheel
    under treadctl/samples/profiles/, so names work from any directory."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(REPO)],
        check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("treadctl-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        inside = {Path(n).name for n in zf.namelist() if n.startswith("treadctl/samples/profiles/")}
    assert inside == {p.name for p in (REPO / "profiles").glob("*.toml")}


def test_simulate_a_profile_by_name_outside_the_repository(tmp_path: Path) -> None:
    """The issue's case: no machines/sim.toml in the working directory; the default
    machine is the shipped sim, the profile, patient and scenario are names."""
    result = treadctl(
        tmp_path,
        "simulate",
        "demo-short",
        "--patient",
        "demo",
        "--scenario",
        "pause-resume",
        "--quiet",
        "--events",
        str(tmp_path / "events.jsonl"),
    )
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout
    assert (tmp_path / "events.jsonl").is_file()


def test_plan_by_names_outside_the_repository(tmp_path: Path) -> None:
    result = treadctl(
        tmp_path,
        "plan",
        "--machine",
        "sim",
        "--profile",
        "backward-intro-15min",
        "--patient",
        "demo",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Backward intro, 15 min: 8 segments, 15.0 min\n")


def test_a_path_wins_over_a_name(tmp_path: Path) -> None:
    """A file called like a sample, in the working directory, is that file."""
    text = (samples.folder("profile") / "demo-short.toml").read_text(encoding="utf-8")
    (tmp_path / "demo-short").write_text(
        text.replace('name = "Demo: short backward bout"', 'name = "My own demo"'),
        encoding="utf-8",
    )
    result = treadctl(tmp_path, "plan", "--machine", "sim", "--profile", "demo-short")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("My own demo: 3 segments")
    # an explicit path to the shipped file, and a relative path, work as before
    shipped = str(samples.folder("profile") / "demo-short.toml")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "p.toml").write_text(text, encoding="utf-8")
    for profile in (shipped, "mine/p.toml"):
        result = treadctl(tmp_path, "check", "--machine", "sim", "--profile", profile)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ok: Demo: short backward bout")


def test_resolve_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert samples.resolve("machine", "sim") == samples.folder("machine") / "sim.toml"
    assert samples.resolve("scenario", "key-pull").is_file()
    # a separator makes it a path, for the loader to report if it is missing
    assert samples.resolve("profile", "x/demo-short") == Path("x/demo-short")
    # a bare X.toml that is not here is a path too, unless X is a sample's name
    assert samples.resolve("machine", "clinic.toml") == Path("clinic.toml")
    with pytest.raises(samples.UnknownSampleError, match=r"named 'sim' \(--machine sim\)"):
        samples.resolve("machine", "sim.toml")
    (tmp_path / "sim.toml").write_text("", encoding="utf-8")
    assert samples.resolve("machine", "sim.toml") == Path("sim.toml")


def test_an_unknown_name_names_the_choices(tmp_path: Path) -> None:
    result = treadctl(tmp_path, "simulate", "backward-intro-15", "--quiet")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "treadctl simulate: error: argument profile: no file 'backward-intro-15'"
    )
    assert "did you mean 'backward-intro-15min'?" in last
    assert "shipped profiles: backward-intro-15min, backward-running-athlete," in last
    assert "(or give the path of a profile file)" in last
    # a name far from every sample: the choices, no guess
    result = treadctl(tmp_path, "check", "--machine", "nosuchthing", "--profile", "bruce")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "argument --machine: no file 'nosuchthing' and no shipped machine" in last
    assert "did you mean" not in last
    assert "shipped machines: ftms, sim, sim-athlete, sim-hr, sim-incline, sim-turn" in last


def test_profiles_list(tmp_path: Path) -> None:
    result = treadctl(tmp_path, "profiles", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"shipped profiles in {samples.folder('profile')}"
    names = [line.split()[0] for line in lines[4::2]]
    assert names == samples.names("profile")
    intro = lines.index(next(line for line in lines if line.startswith("backward-intro-15min ")))
    assert lines[intro].split()[1:4] == ["15.0", "8", "Backward"]
    assert lines[intro].endswith("Backward intro, 15 min")
    assert lines[intro + 1].strip() == "source: domain-notes 4: 10-15 min routine"
    # every profile has a source; its minutes and segments are those of its plan
    for sample in samples.profile_samples():
        assert sample.source, f"{sample.name} has no source"
        athlete = sample.name == "backward-running-athlete"
        machine_name = {"backward-running-athlete": "sim-athlete", "hr-zone-walk": "sim-hr"}
        machine = samples.resolve("machine", machine_name.get(sample.name, "sim"))
        try:
            patient = samples.resolve("patient", "athlete" if athlete else "demo")
            plan = load_session(machine, sample.path, patient).plan
        except ConfigError:  # the exercise tests go above the demo patient's caps
            plan = load_session(machine, sample.path, None).plan
        assert (len(plan.segments), round(plan.total_s / 60, 1)) == (
            sample.segments,
            round(sample.minutes, 1),
        ), sample.name


def test_records_verbs_take_names(tmp_path: Path) -> None:
    """patients add and progress (default machine: the shipped sim) by name."""
    db = str(tmp_path / "s.db")
    result = treadctl(tmp_path, "patients", "add", "--patient", "demo", "--db", db)
    assert result.returncode == 0, result.stderr
    result = treadctl(
        tmp_path, "progress", "--patient", "demo", "--profile", "knee-oa-10min", "--db", db
    )
    assert result.returncode == 0, result.stderr
    assert "; machine Simulated treadmill)" in result.stdout
