"""Profile text read back from the database is parsed within the config limits."""

from __future__ import annotations

from treadctl.store.history import _flags_from_text
from treadctl.store.report import _profile_meta


def test_a_stored_profile_text_nested_too_deep_is_no_traceback() -> None:
    deep = "x = " + "[" * 5000 + "]" * 5000 + "\n"
    assert _profile_meta(deep) == ("", None)
    assert _flags_from_text(deep, 3) is None
