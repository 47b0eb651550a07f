"""The scheduler's side of the resident crawl engine: start it, hand it cycles, restart it when it dies.

`EngineSupervisor` runs `python -m crawler.engine` as a child in a process group of its own (a
Ctrl-C meant for the scheduler does not cut its crawls short), writes one line per cycle to its
stdin and reads its results and heartbeats on a daemon thread. A watchdog thread declares the
engine dead when it exits or sends no heartbeat for `HEARTBEAT_TIMEOUT` seconds, and when a cycle's
result is overdue; it then kills the engine's process group, fails the cycles that were under way,
starts a new engine and logs that it did so. No call here waits without a bound, so the scheduler's
main thread always gets back to its signals.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import IO

from .engine import cycle_request, read_message
from .metrics import ENGINE_SLOT, child_exited, slot_environment
from .store import RunStatus

logger = logging.getLogger("finews.engine")

HEARTBEAT_TIMEOUT = 15.0
"""Seconds without a heartbeat after which the engine counts as dead."""
WATCH_INTERVAL = 1.0
KILL_WAIT = 10.0
"""Seconds to wait for a killed process group's leader to be reaped."""
STOP_GRACE = 10.0
"""Seconds a stopping engine gets after its input closes, and again after SIGTERM, before SIGKILL."""


def engine_command(config_path: str | None, *, frontier: bool = False) -> list[str]:
    """The engine child: fed cycles on its stdin, or (`frontier`, for `finews worker`) from the shared frontier."""
    command = [sys.executable, "-m", "crawler.engine", *(["--frontier"] if frontier else [])]
    return command + ["--config", config_path] if config_path else command


class CycleFailed(Exception):
    """A cycle that ended without a result from the engine (it died or hung, or the scheduler stopped)."""


class CycleRefused(CycleFailed):
    """A cycle not started: one of the same source is still under way (crawls of a source never overlap)."""


@dataclass
class _Cycle:
    cycle: int
    source: str
    deadline: float
    result: Future[RunStatus] = field(default_factory=Future)


class EngineSupervisor:
    """One resident engine child at a time, and the cycles it is running."""

    def __init__(self, command: list[str], *, cycle_deadline: float = 0.0, log: IO[str] | None = None,
                 final_codes: frozenset[int] = frozenset()):
        self.command = command
        self.cycle_deadline = cycle_deadline
        self.log = log  # where the engine's log goes (None: this process's stderr)
        self.final_codes = final_codes  # exit codes that end the engine for good: it is not restarted
        self.final_code: int | None = None
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self.last_beat = 0.0
        self.cycles: dict[str, _Cycle] = {}
        self.counter = 0
        self.closing = threading.Event()
        self.wake = threading.Event()
        self.watchdog: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        with self.lock:
            self._spawn()
        self.watchdog = threading.Thread(target=self._watch, name="engine-watchdog", daemon=True)
        self.watchdog.start()

    def _spawn(self) -> None:
        """Start an engine child (the lock is held; the previous one, if any, is gone)."""
        proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                text=True, encoding="utf-8", bufsize=1, start_new_session=True,
                                env=slot_environment(ENGINE_SLOT))
        self.proc, self.last_beat = proc, time.monotonic()
        assert proc.stdout is not None
        threading.Thread(target=self._read, args=(proc, proc.stdout), name=f"engine-{proc.pid}-reader",
                         daemon=True).start()
        logger.info("crawl engine started (pid %d)", proc.pid)

    def idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the cycles under way to end; whether none is left."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                pending = [c.result for c in self.cycles.values()]
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                pending[0].exception(timeout=min(left, WATCH_INTERVAL))
            except FutureTimeout:
                continue

    def stop(self, grace: float = STOP_GRACE) -> None:
        """End of input for the engine; SIGTERM after `grace` seconds, SIGKILL after another `grace`."""
        self.closing.set()
        self.wake.set()
        with self.lock:
            proc = self.proc
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except OSError:
            pass
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                logger.warning("the crawl engine (pid %d) is still running after %.0fs; sending %s",
                               proc.pid, grace, signal.Signals(sig).name)
                _signal_group(proc, sig)
            try:
                proc.wait(timeout=grace if sig != signal.SIGKILL else KILL_WAIT)
                break
            except subprocess.TimeoutExpired:
                continue
        child_exited(ENGINE_SLOT)
        with self.lock:
            self._fail_all("the scheduler stopped")
        logger.info("crawl engine stopped")

    # -- cycles --------------------------------------------------------------------------

    def run_cycle(self, source: str) -> RunStatus:
        """Run one cycle of `source` in the engine; its run status, or CycleFailed saying why there is none."""
        with self.lock:
            if source in self.cycles:
                raise CycleRefused(f"a cycle of {source} is still under way")
            if self.closing.is_set() or self.proc is None:
                raise CycleRefused("the crawl engine is stopping")
            self.counter += 1
            cycle = _Cycle(self.counter, source, time.monotonic() + self.cycle_deadline)
            self.cycles[source] = cycle
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(cycle_request(cycle.cycle, source))
                self.proc.stdin.flush()
            except OSError as exc:  # it died: the watchdog restarts it
                cycle.result.set_exception(CycleFailed(f"the crawl engine is not reading: {exc}"))
                self.wake.set()
        try:
            # The watchdog fails the cycle by its deadline: the margin only covers the watchdog's own pace.
            return cycle.result.result(timeout=self.cycle_deadline + HEARTBEAT_TIMEOUT)
        except FutureTimeout:
            raise CycleFailed("no result from the crawl engine") from None
        finally:
            with self.lock:
                if self.cycles.get(source) is cycle:
                    del self.cycles[source]

    def _read(self, proc: subprocess.Popen[str], stream: IO[str]) -> None:
        """The reader thread of one engine child: heartbeats and results, until its stdout closes."""
        for line in stream:
            try:
                kind, key, value = read_message(line)
            except (ValueError, KeyError, TypeError) as exc:
                logger.error("crawl engine (pid %d): unreadable message %r: %s", proc.pid, line[:200], exc)
                continue
            with self.lock:
                if proc is not self.proc:
                    break
                if kind == "heartbeat":
                    self.last_beat = time.monotonic()
                    continue
                for cycle in self.cycles.values():
                    if cycle.cycle == key and value is not None and not cycle.result.done():
                        cycle.result.set_result(value)
        stream.close()
        self.wake.set()

    # -- the watchdog --------------------------------------------------------------------

    def _watch(self) -> None:
        while not self.closing.is_set():
            self.wake.wait(WATCH_INTERVAL)
            self.wake.clear()
            with self.lock:
                if self.closing.is_set() or self.proc is None:
                    return
                if self.proc.poll() in self.final_codes:
                    self.final_code = self.proc.returncode
                    self.closing.set()
                    return
                problem = self._problem()
                if problem is not None:
                    self._restart(problem)

    def _problem(self) -> str | None:
        """Why the current engine counts as dead, if it does (the lock is held)."""
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None:
            return f"exited with code {code}"
        now = time.monotonic()
        if now - self.last_beat > HEARTBEAT_TIMEOUT:
            return f"sent no heartbeat for {now - self.last_beat:.0f}s"
        late = [c for c in self.cycles.values() if not c.result.done() and now > c.deadline]
        if late:
            return f"did not end the cycle of {late[0].source} within {self.cycle_deadline:.0f}s"
        return None

    def _restart(self, problem: str) -> None:
        """Kill the engine's process group, fail its cycles, start a new engine (the lock is held)."""
        assert self.proc is not None
        old = self.proc
        _signal_group(old, signal.SIGKILL)
        try:
            assert old.stdin is not None
            old.stdin.close()
        except OSError:
            pass
        try:
            old.wait(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:
            logger.error("the crawl engine (pid %d) did not go away after SIGKILL", old.pid)
        child_exited(ENGINE_SLOT)
        self._fail_all(f"the crawl engine {problem}")
        self._spawn()
        logger.error("the crawl engine (pid %d) %s: killed it and started a new one (pid %d)",
                     old.pid, problem, self.proc.pid)

    def _fail_all(self, why: str) -> None:
        for cycle in self.cycles.values():
            if not cycle.result.done():
                cycle.result.set_exception(CycleFailed(why))


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
