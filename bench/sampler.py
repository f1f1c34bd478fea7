"""Resident memory of the service processes, sampled on a thread for the whole run."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable

import psutil  # type: ignore[import-untyped, unused-ignore]

Pids = Callable[[], dict[str, list[int]]]


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """User + system CPU time used so far by each role's processes: a cost per task that, unlike
    a rate, does not move when other work shares the machine."""
    used: dict[str, float] = {}
    for role, role_pids in pids.items():
        for pid in role_pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            used[role] = used.get(role, 0.0) + times.user + times.system
    return used


def children_cpu_s() -> float:
    """User + system CPU time of this process's children that have ended (and were waited for):
    around one measuring subprocess, the CPU that subprocess used."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class RssSampler:
    """Samples the RSS (MiB) of every process the current `pids()` names, by role."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.samples: list[tuple[float, str, float]] = []  # (wall time, role, MiB)
        self.peak: dict[str, float] = {}
        self._pids: Pids = dict
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, pids: Pids) -> None:
        self._pids = pids

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> dict[str, float]:
        """The RSS now, summed by role's largest process (MiB)."""
        now: dict[str, float] = {}
        for role, pids in self._pids().items():
            for pid in pids:
                try:
                    mib = psutil.Process(pid).memory_info().rss / 2**20
                except psutil.Error:
                    continue
                now[role] = max(now.get(role, 0.0), mib)
        return now

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            stamp = time.time()
            for role, mib in self.sample().items():
                self.samples.append((stamp, role, mib))
                self.peak[role] = max(self.peak.get(role, 0.0), mib)
