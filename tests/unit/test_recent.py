import numpy as np

from detector.recent import RecentWindow
from detector.series import SeriesKey, Signal

K = SeriesKey("a", "n", Signal.RATE)


def cols(values):
    v = np.asarray([values], dtype=float)
    return {"values": v, "expected": v, "lower": v, "upper": v, "score": v * 0}


def test_appends_bounded_and_tracks_last_data():
    w = RecentWindow(max_points=4)
    w.add([K], np.array([0.0, 15.0, 30.0]), **cols([1, 2, np.nan]))
    assert w.last_data_at(K) == 15.0
    w.add([K], np.array([45.0, 60.0]), **cols([4, 5]))
    view = w.view(K)
    assert view.timestamps.tolist() == [15.0, 30.0, 45.0, 60.0]
    assert w.view(K, since=45).values.tolist() == [4, 5]
    assert w.last_data_at(K) == 60.0


def test_replayed_points_replace_not_duplicate():
    w = RecentWindow()
    w.add([K], np.array([0.0, 15.0]), **cols([1, 2]))
    w.add([K], np.array([15.0, 30.0]), **cols([3, 4]))
    assert w.view(K).values.tolist() == [1, 3, 4]
