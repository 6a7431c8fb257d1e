"""The far ends the fault suite breaks: an action hook, a Kubernetes API, a mesh that fans out.

Each is a real HTTP server on 127.0.0.1 that can be switched ``up``, ``down`` (its port
closed: connection refused) or ``error`` (every request answered 503), and records what
it was asked, so the suite can count attempts and applications per idempotency key.
Standard library only, like :mod:`detector.devstack`.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from detector.decide.manifests import virtual_service
from detector.simulate.control import ControlledSimulator
from detector.simulate.topology import Topology

Reply = tuple[int, dict[str, Any]]
_POD = re.compile(r'pod="[^"]*"')


class FlakyServer:
    """A threaded HTTP server whose port survives ``down``: it is re-bound on ``up``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mode = "up"
        self.requests: list[tuple[str, str, int]] = []
        """(method, path, status answered) of every request that reached the server."""
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        if mode not in ("up", "down", "error"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode == "down" and self._server is not None:
            self._close()
        if mode != "down" and self._server is None:
            self._listen()
        self.mode = mode

    def stop(self) -> None:
        self._close()

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        raise NotImplementedError

    def _reply(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        with self.lock:
            code, out = (
                (503, {"error": "injected by the fault suite"})
                if self.mode == "error"
                else self.handle(method, path, headers, body)
            )
            self.requests.append((method, path, code))
            return code, out

    def _listen(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


class HookReceiver(FlakyServer):
    """MeshPulse's HTTP hook target: 200 to every POST, keyed by ``Idempotency-Key``."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()
        """Successful answers per key: more than one is an action applied twice."""
        super().__init__()

    def _reply(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        code, out = super()._reply(method, path, headers, body)
        key = headers.get("idempotency-key", "")
        with self.lock:
            self.attempts[key] += 1
            self.applied[key] += code == 200
        return code, out

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        return 200, {"ok": True}


class KubeApi(FlakyServer):
    """Enough of a Kubernetes API for Istio objects: GET, create, merge-PATCH with ``resourceVersion``.

    Starts with a 50/50 VirtualService for every service with two subsets in ``topology``.
    """

    PREFIX = "/apis/networking.istio.io/v1/namespaces/"

    def __init__(self, topology: Topology, namespace: str = "default") -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []
        self.version = 100
        for w in topology.workloads:
            if len(w.versions) == 2:
                host = f"{w.service}.{namespace}.svc.cluster.local"
                vs = virtual_service(w.service, namespace, host, dict.fromkeys(w.versions, 50))
                self._put(f"{self.PREFIX}{namespace}/virtualservices/{w.service}", vs)
        super().__init__()

    def write_kubeconfig(self, path: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": self.url}}],
            "users": [{"name": "local", "user": {}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
            "current-context": "local",
        }
        path.write_text(json.dumps(config))  # JSON is YAML

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        path = path.partition("?")[0]
        if not path.startswith(self.PREFIX):
            return 404, _status(404, "NotFound")
        if method == "POST":
            path = f"{path}/{body['metadata']['name']}"
        current = self.objects.get(path)
        if method == "GET":
            return (200, current) if current else (404, _status(404, "NotFound"))
        if (method == "POST") == (current is not None):
            return (409, _status(409, "AlreadyExists")) if current else (404, _status(404, "NotFound"))
        want = (body or {}).get("metadata", {}).get("resourceVersion")
        if current is not None and want is not None and want != current["metadata"]["resourceVersion"]:
            return 409, _status(409, "Conflict")
        self.writes.append((method, path))
        self._put(path, _merge(current, body) if method == "PATCH" else copy.deepcopy(body))
        return 200, self.objects[path]

    def _put(self, path: str, obj: dict[str, Any]) -> None:
        self.version += 1
        self.objects[path] = _merge(obj, {"metadata": {"resourceVersion": str(self.version)}})


class FanOutSimulator(ControlledSimulator):
    """Adds, on demand, a workload whose every request lands on a different pod name.

    It copies one real service's lines under a new service name and ``pods`` pod
    names: a cardinality explosion (a Deployment stamping a fresh name per pod,
    thousands of them) that leaves the real services' traffic untouched.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fan_out: tuple[str, str, int] | None = None

    def explode(self, template: str, name: str, pods: int) -> None:
        self.fan_out = (template, name, pods)

    def metrics(self) -> str:
        text = super().metrics()
        if self.fan_out is None:
            return text
        template, name, pods = self.fan_out
        mine = [
            line
            for line in text.splitlines()
            if f'destination_service_name="{template}"' in line and 'reporter="destination"' in line
        ]
        shapes = [_POD.sub('pod="@POD@"', line.replace(template, name)) for line in mine]
        extra = [shape.replace("@POD@", f"{name}-{i}") for i in range(pods) for shape in shapes]
        return text.rstrip("\n") + "\n" + "\n".join(extra) + "\n"


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}


def _handler_for(server: FlakyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            code, out = server._reply(self.command, self.path, headers, body)
            data = json.dumps(out).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
