"""The README's configuration table lists every variable with the default the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.config import VARIABLES, Settings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\|\s*`?(TASKQ_[A-Z0-9_]+)`?\s*\|([^|]*)\|")
UNSET = {"", "(unset)", "unset", "(none)", "none", "-", "—", "(empty)"}


def documented_defaults() -> dict[str, str]:
    if not README.exists():
        pytest.skip("README.md is not written yet")
    rows: dict[str, str] = {}
    for line in README.read_text().splitlines():
        match = ROW.match(line.strip())
        if match:
            var, default = match.groups()
            assert var not in rows, f"{var} is in the README's table twice"
            rows[var] = default.strip().strip("`").strip()
    return rows


def matches(documented: str, default: object) -> bool:
    if default is None:
        return documented.lower() in UNSET
    if isinstance(default, tuple):
        try:
            return tuple(float(p) for p in documented.split(",")) == default
        except ValueError:
            return False
    if isinstance(default, int | float):
        try:
            return float(documented) == default
        except ValueError:
            return False
    return documented == default


def test_every_variable_is_documented_with_its_default() -> None:
    rows = documented_defaults()
    defaults = Settings()
    missing = sorted(set(VARIABLES) - set(rows))
    assert not missing, f"missing from the README's configuration table: {missing}"
    wrong = {
        var: (rows[var], getattr(defaults, field))
        for var, field in VARIABLES.items()
        if not matches(rows[var], getattr(defaults, field))
    }
    assert not wrong, f"README default differs from the code (README, code): {wrong}"


def test_the_table_documents_no_variable_the_code_lacks() -> None:
    unknown = sorted(set(documented_defaults()) - set(VARIABLES))
    assert not unknown, f"the README documents variables the code does not read: {unknown}"


@pytest.mark.parametrize(
    ("documented", "default", "expected"),
    [
        ("1,5,25", (1.0, 5.0, 25.0), True),
        ("1,5", (1.0, 5.0, 25.0), False),
        ("60", 60.0, True),
        ("6O", 60.0, False),
        ("(unset)", None, True),
        ("abc", None, False),
        ("tasks", "tasks", True),
        ("task", "tasks", False),
    ],
)
def test_default_comparison(documented: str, default: object, expected: bool) -> None:
    assert matches(documented, default) is expected
