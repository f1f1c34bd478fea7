"""The closed-loop HTTP load generator: wrk (Debian package `wrk`), whose own CPU stays small
next to the services' (C on one thread, where a Python client would cost about what the API
does). `bench/post.lua` makes it POST exactly N task bodies and count the answers by status.

`ensure()` finds wrk on PATH, installs it with apt-get when we are root, or stops with one line
that says how to install it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.plan import TASK_BODY
from bench.sampler import children_cpu_s

SCRIPT = Path(__file__).with_name("post.lua")
INSTALL = "apt-get install -y wrk"
MISSING = (
    "bench: wrk, the HTTP load generator, is not on PATH: install it with "
    f"`{INSTALL}` (Debian package wrk) and run the benchmark again"
)
MARKER = "taskq-wrk-result "
ANSWERED = "taskq-wrk-answered"
APT_LOCK_WAIT_S = 600  # another apt-get may hold the dpkg lock
REQUEST_TIMEOUT = "30s"
# wrk runs for a duration: give it one long enough for N answers at a crawl; it is stopped as
# soon as post.lua says the N-th answer is in.
MIN_RATE_PER_S = 50
SLACK_S = 60


class WrkMissing(Exception):
    """wrk is not installed and could not be installed; the message says how to get it."""


def _install() -> str | None:
    """`apt-get install -y wrk` (after `apt-get update` if the package lists lack it)."""
    print(f"bench: wrk is not on PATH; running `{INSTALL}`", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}"
    for command in (["install", "-y", "wrk"], ["update"], ["install", "-y", "wrk"]):
        subprocess.run(
            ["apt-get", "-o", lock, *command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,
            check=False,
            timeout=APT_LOCK_WAIT_S + 600,
        )
        if command[0] == "install" and (found := shutil.which("wrk")):
            return found
    return None


def ensure() -> str:
    """The path of wrk, installed first when it is missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise WrkMissing(MISSING)
    installed = _install()
    if installed is None:
        raise WrkMissing(f"{MISSING} (`{INSTALL}` did not install it here)")
    return installed


def version() -> str:
    """wrk's version line, as `wrk --version` prints it (it exits 1 after printing)."""
    done = subprocess.run([ensure(), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0].split("Copyright")[0].strip() if done.stdout else "wrk"


def post(url: str, n: int, connections: int) -> dict[str, Any]:
    """POST N tasks over `connections` keep-alive connections (one wrk thread), as fast as the
    answers come back. Returns wrk's summary, its wall-clock start and end, and its CPU."""
    duration_s = SLACK_S + n // MIN_RATE_PER_S
    command = [
        ensure(),
        "-t1",
        f"-c{max(1, min(connections, n))}",
        f"-d{duration_s}s",
        "--timeout",
        REQUEST_TIMEOUT,
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(n),
        orjson.dumps(TASK_BODY).decode(),
    ]
    # wrk is the only child that ends while this runs, so the children's CPU is its CPU.
    cpu_before = children_cpu_s()
    first_send = time.time()
    last_done = 0.0
    output: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                output.append(line.rstrip("\n"))
                if line.startswith(ANSWERED):
                    last_done = time.time()
                    proc.send_signal(signal.SIGINT)
            code = proc.wait()
        finally:
            if proc.poll() is None:  # we were interrupted: wrk would run out its -d
                proc.kill()
    last_done = last_done or time.time()
    cpu_s = children_cpu_s() - cpu_before
    results = [line for line in output if line.startswith(MARKER)]
    if code != 0 or not results:
        raise RuntimeError(f"wrk exited {code}: {chr(10).join(output[-20:])}")
    summary: dict[str, Any] = orjson.loads(results[-1][len(MARKER) :])
    elapsed = summary["duration_us"] / 1e6
    summary.update(
        sent=n,
        connections=connections,
        first_send=first_send,
        last_done=last_done,
        elapsed_s=elapsed,
        accepted_per_s=summary["status"].get("202", 0) / elapsed if elapsed else 0.0,
        cpu_s=cpu_s,
    )
    return summary
