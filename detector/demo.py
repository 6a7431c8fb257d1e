"""``meshpulse demo``: the whole loop on one machine, with real Prometheus and Alertmanager.

A simulated Online Boutique mesh gets an hour of history (with faults) backfilled
into a fresh Prometheus TSDB, then keeps serving live ``/metrics`` with its counters
continuing from the history; Prometheus scrapes it, MeshPulse warms up from the
history and watches it live, and a random fault is injected every few minutes.
"""

from __future__ import annotations

import contextlib
import math
import random
import secrets
import shutil
import threading
import time
from pathlib import Path

import uvicorn

from detector.api.app import create_app
from detector.devstack import start_alertmanager, start_prometheus
from detector.settings import Settings
from detector.simulate.faults import FaultSchedule
from detector.simulate.history import backfill, write_history
from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

SEED = 7
MODEL = Path("models/mesh-default.yaml")
HISTORY_STEP_S = 30.0
"""Prometheus's live scrape interval is 15 s; ``rate_window`` 2m covers ≥ 4 history samples."""


def run_demo(port: int, workdir: Path, history_hours: float = 1.0, fault_every_s: float = 600.0) -> int:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    topology = Topology.online_boutique(seed=SEED)
    now = time.time()
    start = math.floor((now - history_hours * 3600) / HISTORY_STEP_S) * HISTORY_STEP_S
    faults = FaultSchedule.random(topology, start, now - 300, seed=SEED, every_s=1200)
    mesh = Mesh(topology, seed=SEED, start=start, faults=faults)
    print(f"writing {history_hours:g} h of mesh history and backfilling it …", flush=True)
    files = write_history(topology, start, now, HISTORY_STEP_S, workdir / "history", seed=SEED, mesh=mesh)
    backfill(files, workdir / "tsdb")
    shutil.rmtree(workdir / "history")

    with contextlib.ExitStack() as stack:
        sim = SimulatorServer(mesh).start()
        stack.callback(sim.stop)
        prom = stack.enter_context(
            start_prometheus(
                workdir / "prometheus", [f"127.0.0.1:{sim.port}"], "15s", tsdb_dir=workdir / "tsdb"
            )
        )
        am = stack.enter_context(start_alertmanager(workdir / "alertmanager", webhook_url=None))
        stop = threading.Event()
        stack.callback(stop.set)
        threading.Thread(
            target=_inject_faults, args=(topology, faults, fault_every_s, stop), daemon=True
        ).start()
        token_file = workdir / "api-token"
        token_file.write_text(secrets.token_urlsafe(24) + "\n")
        token_file.chmod(0o600)
        settings = Settings(
            api_token_file=token_file,
            decide_mode="approval",
            detector_model=MODEL if MODEL.exists() else None,
            applier="gitops",
            gitops_dir=workdir / "gitops",
            prometheus_url=prom.url,
            alertmanager_url=am.url,
            state_path=workdir / "meshpulse.sqlite",
            lookback_s=history_hours * 3600,
            rate_window="2m",
            dashboard_url=f"http://127.0.0.1:{port}",
        )
        print(
            f"\n  MeshPulse     http://127.0.0.1:{port}/  (API docs: /docs)\n"
            f"  Prometheus    {prom.url}\n  Alertmanager  {am.url}\n"
            f"  Mesh          {sim.url}/metrics  (inject: POST {sim.url}/faults)\n"
            f"  API token     {token_file}  (approve/reject/apply need it)\n",
            flush=True,
        )
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    return 0


def _inject_faults(topology: Topology, faults: FaultSchedule, every_s: float, stop: threading.Event) -> None:
    """One random fault inside each coming window, so the demo always has something to find."""
    rng = random.Random(f"demo-{SEED}")
    while not stop.is_set():
        fault = faults.add_random(topology, time.time(), every_s, rng)
        when = time.strftime("%H:%M:%S", time.localtime(fault.start))
        print(f"demo: scheduled {fault.kind} on {fault.service} at {when}", flush=True)
        stop.wait(every_s)
