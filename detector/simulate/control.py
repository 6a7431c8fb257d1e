"""Operational events the simulated mesh can go through besides faults: restarts and rollouts.

A sidecar restart zeroes its counters (Prometheus must see a counter reset, not a
drop in traffic), and a rollout replaces pods with new names (old series go stale,
new ones appear cold). Neither is an anomaly, and MeshPulse must not page for them;
:class:`ControlledSimulator` lets the fault suite cause both on a live simulator.
"""

from __future__ import annotations

import threading

from detector.simulate.exposition import Counters
from detector.simulate.server import SimulatorServer


class ControlledSimulator(SimulatorServer):
    """A :class:`SimulatorServer` whose counters can be reset and whose pods can be renamed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._renames: dict[str, str] = {}
        self._rename_lock = threading.Lock()

    def reset_counters(self) -> None:
        """Every proxy restarts at once: all counters start again from zero."""
        with self.mesh.lock:
            self.mesh.counters = Counters.zeros(len(self.mesh.layout.groups))

    def roll_pods(self, service: str, generation: int) -> list[str]:
        """Replace ``service``'s pods with new names (``<pod>-g<generation>``); returns the new names.

        Renaming the reporting pod is what a rollout looks like to Prometheus: the old
        ``pod`` series stop, new ones start. Traffic is unchanged.
        """
        workload = self.mesh.topology.workload(service)
        pods = [p for version in workload.versions for p in workload.pods[version]]
        with self._rename_lock:
            for pod in pods:
                self._renames[f'pod="{pod}"'] = f'pod="{pod}-g{generation}"'
        return [f"{p}-g{generation}" for p in pods]

    def metrics(self) -> str:
        text = super().metrics()
        with self._rename_lock:
            renames = dict(self._renames)
        for old, new in renames.items():
            text = text.replace(old, new)
        return text
