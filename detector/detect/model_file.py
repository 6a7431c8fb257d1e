"""Detection models as YAML files (``models/``): detector hyperparameters, floors, hysteresis.

``shape`` holds the latency-shape detector's hyperparameters (:class:`DistributionShift`);
that signal has no floors.

A file states every knob a deployment may want to turn without a release. Unknown keys
are refused, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from detector.detect.bank import DetectionBank, default_params
from detector.detect.distribution_shift import DistributionShift
from detector.detect.events import EventTracker
from detector.detect.latency_shape import ShapeBank
from detector.detect.robust_ewma import RobustEWMA, SeriesParams
from detector.series import SeriesKey, Signal

SECTIONS = {"detector", "floors", "events", "shape"}


def load_model(path: Path) -> tuple[DetectionBank, EventTracker]:
    """A fresh bank and tracker configured by the file at ``path``."""
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict) or set(spec) - SECTIONS:
        raise ValueError(f"{path}: expected a mapping with sections {sorted(SECTIONS)}, got {spec!r:.200}")
    try:
        detector = RobustEWMA(**spec.get("detector", {}))
        floors = {Signal(name): SeriesParams(**p) for name, p in spec.get("floors", {}).items()}
        if Signal.LATENCY_SHAPE in floors:
            raise ValueError("latency_shape has no floors; set its detector under 'shape'")
        shapes = ShapeBank(DistributionShift(**spec.get("shape", {})))
        tracker = EventTracker(**spec.get("events", {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return DetectionBank(detector, params_for=_params(floors), shapes=shapes), tracker


def _params(floors: dict[Signal, SeriesParams]) -> Callable[[SeriesKey], SeriesParams]:
    def params_for(key: SeriesKey) -> SeriesParams:
        return default_params(key, floors)

    return params_for
