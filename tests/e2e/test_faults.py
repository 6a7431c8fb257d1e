"""The fault suite's essentials on real processes: what must be zero is zero.

One stack for the module (simulator → Prometheus → chaos proxy → MeshPulse as its own
process → Alertmanager → webhook sink, see ``bench/fault_stack.py``), with the warm-up
history backfilled into Prometheus instead of scraped live, and the bench's own fault
functions run on it with shorter holds: Prometheus answering 5xx then malformed JSON,
Prometheus SIGKILLed and restarted mid-cycle, MeshPulse SIGKILLed mid-cycle during a
firing alert and restarted. ``bench/faults.py`` runs the whole suite (and the table).
Every wait is bounded (``wait_until`` deadlines, fixed holds); about 80 s on 2 cores.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import faults
from fault_stack import INTERVAL, Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("faults"), settle_s=2 * INTERVAL, hold_s=1.5 * INTERVAL)
    try:
        yield s.start(backfilled=True)
    finally:
        s.stop()


def assert_zeros(result: faults.FaultResult) -> None:
    row = faults.row(result)
    assert result.survived, row
    assert result.recovery_s is not None, f"no good cycle after the fault: {row}"
    assert (result.alerts_lost, result.alerts_duplicated) == (0, 0), row
    assert (result.false_anomalies, result.actions_on_missing_data) == (0, 0), row


def test_prometheus_5xx_then_malformed_json(stack: Stack) -> None:
    """Failed cycles, ``/readyz`` says why, nothing opens, the next good cycle catches up."""
    assert stack.proxy
    faults.quiet(stack)
    t0, before = time.time(), dict(stack.proxy.counts)
    for mode in ("5xx", "garbage"):
        stack.proxy.set_mode(mode)
        assert faults.hold(stack, stack.hold_s, explained=True), f"/healthz or /readyz wrong during {mode}"
    stack.proxy.set_mode("pass")
    cleared = time.time()
    injected = sum(stack.proxy.counts[m] - before[m] for m in ("5xx", "garbage"))
    result = faults.measure(
        stack, "5xx + malformed JSON", t0, injected, True, faults.recovery(stack, cleared)
    )
    assert injected >= 2
    assert_zeros(result)


def test_prometheus_killed_mid_cycle_and_restarted(stack: Stack) -> None:
    assert_zeros(faults.run_one(stack, "prometheus-killed"))


def test_meshpulse_sigkilled_mid_cycle_and_restarted(stack: Stack) -> None:
    """The open event and warm detectors come back from the store, which is intact; no re-page."""
    result = faults.run_one(stack, lambda s: faults.meshpulse_killed(s, fault_s=20.0, until_resolved=False))
    assert_zeros(result)
    assert stack.integrity() == "ok"
