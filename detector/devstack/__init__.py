"""Real Prometheus / Alertmanager processes for the demo and the integration tests.

Tests talk to the same binaries production does, so a PromQL or webhook
misunderstanding fails here rather than in a cluster. Standard library only:
this package must start even when the service's own dependencies are broken.
"""

from detector.devstack.alertmanager import RunningAlertmanager, start_alertmanager
from detector.devstack.ports import free_port
from detector.devstack.processes import ManagedProcess, ProcessError
from detector.devstack.prometheus import RunningPrometheus, start_prometheus
from detector.devstack.webhook_sink import WebhookSink

__all__ = [
    "ManagedProcess",
    "ProcessError",
    "RunningAlertmanager",
    "RunningPrometheus",
    "WebhookSink",
    "free_port",
    "start_alertmanager",
    "start_prometheus",
]
