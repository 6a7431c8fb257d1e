"""Real Prometheus, VictoriaMetrics, Alertmanager and PostgreSQL processes for the demo and tests.

Tests talk to the same binaries production does, so a PromQL or webhook
misunderstanding fails here rather than in a cluster. Standard library only:
this package must start even when the service's own dependencies are broken.
"""

from detector.devstack.alertmanager import RunningAlertmanager, start_alertmanager
from detector.devstack.ports import free_port
from detector.devstack.postgres import RunningPostgres, start_postgres
from detector.devstack.processes import ManagedProcess, ProcessError
from detector.devstack.prometheus import RunningPrometheus, start_prometheus
from detector.devstack.victoriametrics import RunningVictoriaMetrics, start_victoriametrics
from detector.devstack.warm import WarmEngines, start_warm_engines, start_warm_prometheus
from detector.devstack.webhook_sink import WebhookSink

__all__ = [
    "ManagedProcess",
    "ProcessError",
    "RunningAlertmanager",
    "RunningPostgres",
    "RunningPrometheus",
    "RunningVictoriaMetrics",
    "WarmEngines",
    "WebhookSink",
    "free_port",
    "start_alertmanager",
    "start_postgres",
    "start_prometheus",
    "start_victoriametrics",
    "start_warm_engines",
    "start_warm_prometheus",
]
