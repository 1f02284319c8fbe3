"""The records verbs' --help (issue 13): each sub-verb's exit codes are the ones it
returns. Real runs on a real database made by a real simulated session."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from treadctl.cli import EXIT_CONFIG, EXIT_OK, _parser, main


def sub_parser(*words: str) -> argparse.ArgumentParser:
    parser = _parser()
    for word in words:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def listed_codes(*words: str) -> dict[int, str]:
    """The exit codes a verb's --help lists, with their (joined) meaning."""
    text = sub_parser(*words).format_help()
    block = text[text.index("\nexit codes:\n") :]
    return {
        int(code): " ".join(meaning.split())
        for code, meaning in re.findall(r"(?ms)^  (\d)  (.*?)(?=^  \d  |\Z)", block)
    }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding one simulated demo-short session of the demo patient (id 1)."""
    where = tmp_path_factory.mktemp("records")
    path = where / "records.sqlite"
    argv = ["simulate", "demo-short", "--patient", "demo", "--quiet", "--db", str(path)]
    assert main([*argv, "--events", str(where / "events.jsonl")]) == EXIT_OK
    return path


def test_the_codes_are_read_back_from_the_help() -> None:
    codes = listed_codes("sessions", "rpe")
    assert set(codes) == {EXIT_OK, EXIT_CONFIG}
    assert codes[EXIT_CONFIG].startswith("the rating is not a number on the scale")
    assert "no such session, or the database cannot be read" in codes[EXIT_CONFIG]
    assert codes[EXIT_CONFIG].endswith("--db is the clinic's records (read-only here: the "
                                       "message says which command)")  # fmt: skip


def run(db: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([*argv, "--db", str(db)])
    out, err = capsys.readouterr()
    return code, out, err


OK_RUNS = [
    ["patients", "list"],
    ["patients", "show", "DEMO-001", "--all"],
    ["patients", "add", "--patient", "demo"],
    ["sessions", "list", "--all"],
    ["sessions", "list", "--patient", "DEMO-001"],
    ["sessions", "show", "1"],
    ["sessions", "export", "1", "--format", "json"],
    ["sessions", "rpe", "1", "4", "--scale", "cr10"],
    ["progress", "--patient", "demo", "--profile", "demo-short", "--simulated", "--all"],
]


@pytest.mark.parametrize("argv", OK_RUNS, ids=" ".join)
def test_a_run_that_works_exits_0_as_its_help_says(
    db: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(db, argv, capsys)
    assert (code, err) == (EXIT_OK, ""), err
    assert out
    words = argv[:1] if argv[0] == "progress" else argv[:2]
    assert EXIT_OK in listed_codes(*words)


def test_the_report_is_written_where_its_help_says(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    code, _, err = run(db, ["sessions", "report", "1", "--out", str(out)], capsys)
    assert code == EXIT_OK
    assert "its path is printed on stderr" in listed_codes("sessions", "report")[EXIT_OK]
    assert str(out) in err
    assert out.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")


# each refusal, and the words in the verb's exit code 2 that cover it
REFUSED = [
    (["patients", "show", "NOBODY"], "no patient 'NOBODY'", "no such patient"),
    (["patients", "add", "--patient", "{missing}"], "missing.toml", "file is refused"),
    (["sessions", "list", "--patient", "NOBODY"], "no patient 'NOBODY'", "no such patient"),
    (["sessions", "show", "99"], "no session 99", "no such session"),
    (["sessions", "export", "99"], "no session 99", "no such session"),
    (["sessions", "export", "1", "--out", "{nodir}"], "cannot write", "--out cannot be written"),
    (["sessions", "report", "99"], "no session 99", "no such session"),
    (["sessions", "rpe", "1", "21"], "nothing recorded", "not a number on the scale"),
    (["sessions", "rpe", "1", "nan"], "nothing recorded", "not a number on the scale"),
    (
        ["progress", "--patient", "demo", "--profile", "{missing}", "--simulated"],
        "missing.toml",
        "a file is refused",
    ),
]


@pytest.mark.parametrize(("argv", "said", "listed"), REFUSED, ids=lambda v: str(v)[:40])
def test_a_refused_run_exits_2_as_its_help_says(
    db: Path,
    tmp_path: Path,
    argv: list[str],
    said: str,
    listed: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    holes = {"missing": str(tmp_path / "missing.toml"), "nodir": str(tmp_path / "no" / "x.csv")}
    code, _, err = run(db, [a.format(**holes) for a in argv], capsys)
    assert code == EXIT_CONFIG
    assert said in err
    words = argv[:1] if argv[0] == "progress" else argv[:2]
    assert listed in listed_codes(*words)[EXIT_CONFIG]


@pytest.mark.parametrize(
    "words",
    [
        ("patients", "list"),
        ("patients", "show"),
        ("sessions", "list"),
        ("sessions", "show"),
        ("progress",),
    ],
)
def test_no_database_is_a_2_the_help_lists(
    words: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = {
        ("patients", "show"): ["patients", "show", "DEMO-001"],
        ("sessions", "show"): ["sessions", "show", "1"],
        ("progress",): ["progress", "--patient", "demo", "--profile", "demo-short"],
    }.get(words, list(words))
    code, _, err = run(tmp_path / "none.sqlite", argv, capsys)
    assert code == EXIT_CONFIG
    assert "none.sqlite" in err
    assert "the database cannot be read" in listed_codes(*words)[EXIT_CONFIG]
    assert not (tmp_path / "none.sqlite").exists()  # reading never creates it
