"""What every started server has in common: a loopback URL, a PID, ready, stop, start again.

Restarts keep the port (and each subclass its data directory), so a test can stop a
server mid-run and bring the same one back.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from detector.devstack.processes import ManagedProcess


class RunningServer:
    ready_path = "/-/ready"

    def __init__(self, process: ManagedProcess, port: int) -> None:
        self.process = process
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        self.process.wait_ready(f"{self.url}{self.ready_path}", timeout_s)

    def stop(self) -> None:
        self.process.stop()

    def start(self, timeout_s: float = 30.0) -> None:
        """Start again after :meth:`stop`: same port, same data."""
        self.process.start()
        self.wait_ready(timeout_s)

    def restart(self, timeout_s: float = 30.0) -> None:
        self.stop()
        self.start(timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
