"""``meshpulse``: serve, simulate, score, openapi, demo.

Every verb exits with a one-line message (never a traceback) on bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from detector.settings import Settings


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    from detector.settings import load_settings

    return load_settings(args.config, **{k: v for k, v in overrides.items() if v is not None})


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from detector.api.app import create_app

    settings = _settings(args)
    print(f"MeshPulse on http://{args.host}:{args.port}/ (Prometheus {settings.prometheus_url})", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from detector.api.app import create_app

    json.dump(create_app(_settings(args)).openapi(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from detector.detect.csv_score import InputError, score_csv, write_scored
    from detector.detect.registry import DETECTORS

    if args.list_detectors:
        for name in sorted(DETECTORS):
            print(name + ("  (default)" if name == args.detector else ""))
        return 0
    if not args.input:
        print("meshpulse score: --input FILE.csv (or '-') is required", file=sys.stderr)
        return 2
    try:
        source = Path(args.input) if args.input != "-" else sys.stdin.read()
        rows = score_csv(source, detector=args.detector)
    except InputError as exc:
        print(f"meshpulse score: {exc}", file=sys.stderr)
        return 2
    write_scored(rows, sys.stdout)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from detector.simulate.server import run_simulator

    run_simulator(args.host, args.port, seed=args.seed, fault_every_s=args.fault_every)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from detector.demo import run_demo

    return run_demo(port=args.port, workdir=Path(args.workdir), history_hours=args.history_hours)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="meshpulse", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("serve", help="run the API, scheduler and detectors")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--config", type=Path, help="YAML settings file (MESHPULSE_* variables win)")
    s.set_defaults(func=cmd_serve)

    o = sub.add_parser("openapi", help="print the API's OpenAPI JSON")
    o.add_argument("--config", type=Path)
    o.set_defaults(func=cmd_openapi)

    c = sub.add_parser("score", help="score a timestamp,value CSV (causal); '-' reads stdin")
    c.add_argument("--input", help="the CSV file, or '-' for standard input")
    c.add_argument("--detector", default="ensemble", help="which detector (see --list-detectors)")
    c.add_argument("--list-detectors", action="store_true", help="list the detectors and exit")
    c.set_defaults(func=cmd_score)

    m = sub.add_parser("simulate", help="serve a simulated Istio mesh's /metrics with fault injection")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=9180)
    m.add_argument("--seed", type=int, default=7)
    m.add_argument(
        "--fault-every", type=float, default=None, metavar="SECONDS", help="inject a random fault this often"
    )
    m.set_defaults(func=cmd_simulate)

    d = sub.add_parser("demo", help="simulator + real Prometheus + Alertmanager + MeshPulse, all local")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument("--workdir", default="var/demo")
    d.add_argument("--history-hours", type=float, default=1.0)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.func(args))
    except (ValidationError, ValueError, FileNotFoundError) as exc:
        print(f"meshpulse {args.verb}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
