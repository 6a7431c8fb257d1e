"""Bounded waiting: every loop that waits on a real server has a deadline and a cadence."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout_s: float, every_s: float = 0.5) -> T:
    """The first truthy result of ``check``; AssertionError once ``timeout_s`` has passed.

    >>> wait_until(lambda: 42, 1.0)
    42
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
