"""Run the weight-invariant property tests at bench size and report how many cases they covered.

    .venv/bin/python bench/properties.py [--examples 34000] [--seed 0]

The properties live in ``tests/unit/test_decide_properties.py`` (a few hundred examples in
the normal suite); here each runs ``--examples`` generated examples, so the three together
exceed 10^5 cases, and the decision-sequence property makes ~5 ``decide`` calls per
example on top. Counting wraps the functions the tests call, so the numbers are what ran,
not what was asked for (Hypothesis may stop early when it exhausts a search space).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import seed as hypothesis_seed
from hypothesis import settings

PROPERTIES = Path(__file__).resolve().parents[1] / "tests" / "unit" / "test_decide_properties.py"


def counting(counts: Counter[str], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return fn(*args, **kwargs)

    return wrapped


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=34_000, help="examples per property")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    os.environ["MESHPULSE_BENCH_EXAMPLES"] = str(args.examples)  # read when the test module loads
    settings.register_profile("bench", database=None, print_blob=True)
    settings.load_profile("bench")
    spec = importlib.util.spec_from_file_location("decide_properties", PROPERTIES)
    assert spec is not None and spec.loader is not None
    props: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(props)
    counts: Counter[str] = Counter()
    # each example of a property calls its entry point a known number of times: count those
    props.DecideState = counting(counts, "sequence examples", props.DecideState)
    props.decide = counting(counts, "decide calls", props.decide)
    props.toward = counting(counts, "shift/toward examples", props.toward)
    props.apportion = counting(counts, "apportion examples", props.apportion)
    tests = [
        props.test_no_sequence_breaks_weight_invariants,
        props.test_shift_and_toward_keep_total_and_bounds,
        props.test_apportion_sums_exactly,
    ]
    print(f"{'property':<48} {'seconds':>8}")
    total_t = time.perf_counter()
    for test in tests:
        t = time.perf_counter()
        hypothesis_seed(args.seed)(test)()
        print(f"{test.__name__:<48} {time.perf_counter() - t:>8.1f}")
    elapsed = time.perf_counter() - total_t
    examples = counts["sequence examples"] + counts["shift/toward examples"] + counts["apportion examples"]
    print()
    for name, n in counts.items():
        print(f"{name:<48} {n:>8}")
    print(f"{'generated examples (all three properties)':<48} {examples:>8}")
    print(
        f"{'cases checked (decisions + shift/toward + apportion)':<48} "
        f"{counts['decide calls'] + counts['shift/toward examples'] + counts['apportion examples']:>8}"
    )
    print(f"{'total seconds':<48} {elapsed:>8.1f}")
    print("all properties held")


if __name__ == "__main__":
    main()
