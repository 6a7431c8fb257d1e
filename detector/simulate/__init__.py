"""The demo mesh: Online Boutique-shaped traffic exposed with Istio's standard metrics.

Series names and labels match a real Istio mesh so MeshPulse's PromQL runs unchanged
against either; faults carry ground truth so detections can be scored.
"""

from detector.simulate.faults import Fault, FaultKind, FaultSchedule
from detector.simulate.topology import Edge, Topology, Workload
from detector.simulate.traffic import Mesh

__all__ = ["Edge", "Fault", "FaultKind", "FaultSchedule", "Mesh", "Topology", "Workload"]
