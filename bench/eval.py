"""Benchmark every detector on the labelled third-party data sets and print markdown tables.

    .venv/bin/python bench/eval.py [--datasets ms,nezha,petshop] [--quick] [--data DIR]

``--quick`` subsamples (12 MS series, one Nezha day, 20 PetShop columns per scenario)
to finish in under a minute. The data root defaults to ``../shared/datasets`` next to
the clone; ``--data`` or ``MESHPULSE_DATASETS`` override it.
"""

from __future__ import annotations

import argparse
import sys
import time

from detector.evaluation.datasets import data_root
from detector.evaluation.report import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="ms,nezha,petshop", help="comma-separated: ms, nezha, petshop")
    parser.add_argument("--quick", action="store_true", help="subsample for a run under a minute")
    parser.add_argument("--data", default=None, help="data set root (default ../shared/datasets)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    run(
        names, data_root(args.data), quick=args.quick, out=sys.stdout, log=lambda m: print(m, file=sys.stderr)
    )
    print(f"wall time: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
