"""The live simulator: a tiny HTTP server Prometheus can scrape and a person can poke.

A scrape advances the mesh to "now", so simulated time follows wall-clock time
without a background ticker thread. Stdlib ``http.server`` keeps the simulator free of
the API stack and cheap to start in tests.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from detector.simulate.exposition import Renderer
from detector.simulate.faults import FaultSchedule
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

_FAULT_PATH = re.compile(r"^/faults/([A-Za-z0-9_-]+)$")
_MAX_BODY = 64 * 1024


class SimulatorServer:
    """Serves ``/metrics``, ``/faults`` and ``/topology`` for one :class:`Mesh` in a background thread."""

    def __init__(
        self, mesh: Mesh, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        self.mesh, self.clock = mesh, clock
        self.renderer = Renderer(mesh.layout)
        self.host = host
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        # A short poll interval makes stop() prompt; the cost is a wake-up every 50 ms.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="meshpulse-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def metrics(self) -> str:
        with self.mesh.lock:
            self.mesh.advance(self.clock())
            return self.renderer.text(self.mesh.counters)

    def inject(self, body: dict[str, Any]) -> dict[str, object]:
        """Add a fault from a ``POST /faults`` body; ``ValueError`` means a 400 for the caller."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(body) - {"kind", "service", "subset", "pod", "duration_s", "magnitude", "start"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        for key in ("kind", "service", "duration_s"):
            if key not in body:
                raise ValueError(f"missing field {key!r}")
        try:
            duration = float(body["duration_s"])
            start = float(body["start"]) if body.get("start") is not None else self.clock()
            magnitude = float(body["magnitude"]) if body.get("magnitude") is not None else None
        except (TypeError, ValueError):
            raise ValueError("duration_s, start and magnitude must be numbers") from None
        fault = self.mesh.faults.add(
            self.mesh.topology,
            str(body["kind"]),
            str(body["service"]),
            start,
            duration,
            subset=body.get("subset"),
            pod=body.get("pod"),
            magnitude=magnitude,
        )
        return fault.label()


def _handler_for(sim: SimulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Silence per-request logging; Prometheus scrapes would drown the console."""

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, sim.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif self.path == "/faults":
                self._json(200, sim.mesh.faults.labels(until=sim.clock()))
            elif self.path == "/topology":
                self._json(200, sim.mesh.topology.to_json())
            else:
                self._json(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/faults":
                self._json(404, {"error": f"no route {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    raise ValueError("body too large")
                body = json.loads(self.rfile.read(length) or b"null")
                self._json(201, sim.inject(body))
            except json.JSONDecodeError as exc:
                self._json(400, {"error": f"invalid JSON: {exc.msg}"})
            except ValueError as exc:
                self._json(400, {"error": str(exc)})

        def do_DELETE(self) -> None:
            match = _FAULT_PATH.match(self.path)
            if not match:
                self._json(404, {"error": f"no route {self.path}"})
                return
            try:
                self._json(200, sim.mesh.faults.end(match.group(1), sim.clock()).label())
            except KeyError:
                self._json(404, {"error": f"no fault {match.group(1)!r}"})

        def _json(self, status: int, payload: object) -> None:
            self._send(status, json.dumps(payload), "application/json")

        def _send(self, status: int, text: str, content_type: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def run_simulator(
    host: str = "127.0.0.1",
    port: int = 9464,
    seed: int = 0,
    fault_every_s: float | None = None,
    topology: Topology | None = None,
) -> None:
    """Blocking entry point for ``meshpulse simulate``: serve until Ctrl-C.

    With ``fault_every_s``, one random fault is scheduled inside each coming window of
    that length, one window at a time, so the schedule never holds far-future faults.
    """
    topology = topology or Topology.online_boutique(seed=seed)
    faults = FaultSchedule()
    server = SimulatorServer(Mesh(topology, seed=seed, start=time.time(), faults=faults), host, port).start()
    print(
        f"MeshPulse simulator serving {server.url}/metrics (faults: {server.url}/faults); Ctrl-C to stop",
        flush=True,
    )
    rng = random.Random(f"live-faults-{seed}")
    try:
        while True:
            if fault_every_s:
                faults.add_random(topology, time.time(), fault_every_s, rng)
            time.sleep(fault_every_s or 3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
