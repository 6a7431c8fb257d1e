"""Act: the only place decisions leave the process (Kubernetes, HTTP hooks, GitOps files).

Build once: ``applier = make_applier(kind, **options)``; ``actuator = Actuator(DecisionStore(store),
applier, mode)``. Each cycle: ``actuator.handle(recs, now)``. The API calls ``approve``/``reject``/``apply``.
"""

from detector.act.actuator import Actuator, NotAllowed, NotFound
from detector.act.base import Applier, ApplyResult, NullApplier, WeightReader, make_applier, read_all

__all__ = [
    "Actuator",
    "Applier",
    "ApplyResult",
    "NotAllowed",
    "NotFound",
    "NullApplier",
    "WeightReader",
    "make_applier",
    "read_all",
]
