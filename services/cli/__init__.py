"""`taskq`: the command line client of the taskq API."""

from __future__ import annotations

import sys


def run() -> None:
    """Console entry point (`taskq`). The command line is an extra (`pip install 'taskq[cli]'`):
    the services' image leaves it out, so say what to install rather than show a traceback."""
    try:
        from services.cli.main import run as run_cli
    except ModuleNotFoundError as exc:
        sys.exit(f"taskq: the command line needs {exc.name}: pip install 'taskq[cli]'")
    run_cli()
