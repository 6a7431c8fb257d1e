"""The runtime the lifespan hands to the routes (kept apart from ``app`` so routes can import it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from detector.act.actuator import Actuator
from detector.pipeline import Pipeline
from detector.settings import Settings
from detector.store.base import Store


@dataclass
class Runtime:
    settings: Settings
    pipeline: Pipeline
    store: Store
    clock: Callable[[], float]
    decisions: Actuator | None = None
