"""Which labelled windows visibly change a golden signal: the denominator of "recall on visible faults".

Why: an injected fault is ground truth about the *cause*, not about the metrics. A CPU
hog on a pod with spare cores, or a delay on a rarely called edge, may leave every
latency, rate and success series of the service and its callers exactly as it was; no
metric detector can or should alarm on it. So beside recall over every fault, the report
gives recall over the faults whose window shows something new, by a rule that knows
nothing about any detector:

* a window is *visible* on a series when some value inside it lies outside the range
  (minimum to maximum) of the ``lookback`` points before it, i.e. the series shows a
  value it had not shown for an hour (at a 1-min step);
* it needs ``min_history`` finite points before it: with less, "new" means nothing,
  and no streaming detector has a baseline yet;
* a key (one fault) is visible when any window with that key is visible on its series.

>>> import numpy as np
>>> from detector.evaluation.datasets import LabelledSeries
>>> ts = np.arange(100.0) * 60
>>> x = np.r_[np.tile([1.0, 2.0], 40), [1.5] * 10, [9.0] * 3, [1.0] * 7]
>>> s = LabelledSeries("s", "t", ts, x, ts > 0, [(ts[80], ts[82]), (ts[90], ts[92])], 60.0)
>>> sorted(visible_keys([s]))
['s#1']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detector.evaluation.datasets import LabelledSeries
from detector.evaluation.events import window_indices

LOOKBACK = 60
MIN_HISTORY = 10


def visible_keys(
    series: Sequence[LabelledSeries], lookback: int = LOOKBACK, min_history: int = MIN_HISTORY
) -> set[str]:
    """Keys of windows holding a value outside the range of the ``lookback`` points before them."""
    out: set[str] = set()
    for s in series:
        x = np.asarray(s.values, dtype=np.float64)
        for i, j, key in window_indices(s, 0):
            if key in out:
                continue
            past = x[max(0, i - lookback) : i]
            past = past[np.isfinite(past)]
            inside = x[i : j + 1]
            inside = inside[np.isfinite(inside)]
            enough = len(past) >= min_history and len(inside) > 0
            if enough and (inside.max() > past.max() or inside.min() < past.min()):
                out.add(key)
    return out
