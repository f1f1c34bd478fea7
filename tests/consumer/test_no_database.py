"""The consumer runs anywhere: its code loads no database module at all."""

from __future__ import annotations

import subprocess
import sys

DATABASE_MODULES = ("sqlite3", "_sqlite3", "aiosqlite", "shared.db", "services.api")


def test_the_consumer_imports_no_database_code() -> None:
    # A fresh interpreter: this test process has imported the database code already.
    probe = (
        "import sys, services.consumer.main, services.consumer.worker, services.consumer.owner;"
        f"print(sorted(m for m in sys.modules"
        f" if any(m == d or m.startswith(d + '.') for d in {DATABASE_MODULES!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout
