from pathlib import Path

import numpy as np
import pytest

from detector.detect.bank import DetectionBank, default_params
from detector.detect.distribution_shift import DistributionShift
from detector.detect.events import EventTracker
from detector.detect.model_file import load_model
from detector.detect.robust_ewma import RobustEWMA
from detector.series import SeriesBlock, SeriesKey, Signal

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "mesh-default.yaml"


def test_shipped_model_equals_the_built_in_defaults():
    bank, tracker = load_model(SHIPPED)
    assert repr(bank.detector) == repr(RobustEWMA())
    assert repr(bank.shapes.detector) == repr(DistributionShift())
    for signal in Signal:
        if signal is Signal.LATENCY_SHAPE:  # scored by DistributionShift: no floors
            continue
        key = SeriesKey("a", "n", signal)
        assert bank.params_for(key) == default_params(key)
    assert vars(tracker) == vars(EventTracker())


def test_a_changed_threshold_changes_scores(tmp_path):
    text = SHIPPED.read_text().replace("threshold: 3.5", "threshold: 7.0")
    (tmp_path / "m.yaml").write_text(text)
    strict, _ = load_model(tmp_path / "m.yaml")
    rng = np.random.default_rng(0)
    values = np.concatenate([100 + rng.normal(0, 1, 200), [115.0]])[None, :]
    block = SeriesBlock([SeriesKey("a", "n", Signal.RATE)], np.arange(201.0), values)
    assert strict.score(block).score[0, -1] < DetectionBank().score(block).score[0, -1]


@pytest.mark.parametrize(
    "text",
    [
        "detector: {alfa: 0.1}\n",
        "extra: {}\n",
        "floors: {p42: {}}\n",
        "floors: {latency_shape: {}}\n",
        "shape: {alfa: 1}\n",
        "- 1\n",
    ],
)
def test_bad_model_files_are_refused(tmp_path, text):
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(ValueError, match=r"m\.yaml"):
        load_model(tmp_path / "m.yaml")
