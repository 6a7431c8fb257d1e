"""One external server process: started, polled until ready, stopped by PID.

Servers are stopped by their own PID (never by name) so parallel test runs and a
developer's own Prometheus are never touched. An ``atexit`` hook stops anything a
caller forgot, so a failing test does not leave servers running.
"""

from __future__ import annotations

import atexit
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

_LIVE: set[ManagedProcess] = set()


class ProcessError(RuntimeError):
    """A managed server died or did not become ready; the message carries its log tail."""


class ManagedProcess:
    """A binary run with ``args``, its output appended to ``workdir/<name>.log``.

    The log is appended to, not truncated, so after a :meth:`restart` the earlier
    run's output is still there when diagnosing a failure.
    """

    def __init__(
        self,
        binary: str,
        args: Sequence[str],
        workdir: Path,
        *,
        name: str | None = None,
        stop_timeout_s: float = 10.0,
        user: str | None = None,
    ) -> None:
        self.binary = binary
        self.args = list(args)
        self.workdir = Path(workdir)
        self.name = name or Path(binary).name
        self.log_path = self.workdir / f"{self.name}.log"
        self.stop_timeout_s = stop_timeout_s
        self.user = user
        """Run as this user (needs root); PostgreSQL refuses to run as root."""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise ProcessError(f"{self.name} was never started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> ManagedProcess:
        if self.running:
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n==== starting {self.binary} {' '.join(self.args)}\n".encode())
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    [self.binary, *self.args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    user=self.user,
                )
            except OSError as exc:
                raise ProcessError(f"cannot start {self.name}: {exc}") from exc
        _LIVE.add(self)
        return self

    def stop(self) -> None:
        """Terminate, wait a bounded time, then kill. Safe to call twice."""
        proc, self._proc = self._proc, None
        _LIVE.discard(self)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=self.stop_timeout_s)

    def wait_ready(self, url: str, timeout_s: float = 30.0, interval_s: float = 0.1) -> None:
        """Poll ``url`` until it answers 200; fail fast if the process dies meanwhile."""
        deadline = time.monotonic() + timeout_s
        last_error = "no attempt made"
        while time.monotonic() < deadline:
            if not self.running:
                raise ProcessError(self._describe(f"exited before {url} became ready"))
            last_error = _probe(url)
            if not last_error:
                return
            time.sleep(interval_s)
        raise ProcessError(self._describe(f"not ready at {url} after {timeout_s:.0f}s ({last_error})"))

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _describe(self, problem: str) -> str:
        code = self._proc.poll() if self._proc is not None else None
        status = f" (exit code {code})" if code is not None else ""
        return f"{self.name}{status} {problem}; log {self.log_path}:\n{self.log_tail()}"

    def __enter__(self) -> ManagedProcess:
        return self if self.running else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _probe(url: str) -> str:
    """Empty string when ``url`` answers 200, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return "" if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return str(exc)


def http_post(url: str, timeout_s: float = 10.0) -> None:
    """An empty POST (lifecycle endpoints such as ``/-/reload``); raises on non-2xx."""
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout_s):
        pass


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_LIVE):
        process.stop()
