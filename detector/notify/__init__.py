"""The only place alerts leave MeshPulse."""

from detector.notify.alertmanager import (
    Alert,
    AlertDispatcher,
    AlertmanagerNotifier,
    AnomalyEvent,
    Notifier,
    NotifyError,
    NullNotifier,
    alert_for_event,
    event_id,
)

__all__ = [
    "Alert",
    "AlertDispatcher",
    "AlertmanagerNotifier",
    "AnomalyEvent",
    "Notifier",
    "NotifyError",
    "NullNotifier",
    "alert_for_event",
    "event_id",
]
