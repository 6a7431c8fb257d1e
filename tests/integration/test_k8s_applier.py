"""The Kubernetes applier, with the REAL ``kubernetes`` client, against a small custom-object API server.

The server (stdlib, port 0, a thread) keeps objects by path and implements what the
applier relies on: GET, POST, PUT and merge PATCH, ``resourceVersion`` preconditions
(409 on mismatch) and ``dryRun=All`` (validated, not stored). ``before_write`` lets a
test play a person editing the object between our read and our write.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
import yaml
from kubernetes import client

from detector.act.k8s import KubernetesApplier
from detector.decide.manifests import route_weights, virtual_service
from detector.decide.records import Recommendation

ISTIO = Path(__file__).parents[1] / "data" / "istio"
PREFIX = "/apis/networking.istio.io/v1/namespaces/"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.before_write: Callable[[FakeApi, str], None] | None = None
        self.version = 100

    def put(self, path: str, obj: dict[str, Any]) -> None:
        self.version += 1
        self.objects[path] = merge_patch(obj, {"metadata": {"resourceVersion": str(self.version)}})

    def handle(self, method: str, raw: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        url = urlparse(raw)
        path, dry = url.path, parse_qs(url.query).get("dryRun") == ["All"]
        self.requests.append((method, raw))
        if not path.startswith(PREFIX):
            return 404, _status(404, "NotFound")
        if method == "POST":
            path = f"{path}/{body['metadata']['name']}"  # type: ignore[index]
        current = self.objects.get(path)
        if method == "GET":
            return (200, current) if current else (404, _status(404, "NotFound"))
        if method != "POST" and current is None:
            return 404, _status(404, "NotFound")
        if method == "POST" and current is not None:
            return 409, _status(409, "AlreadyExists")
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook(self, path)
            current = self.objects.get(path)
        want = (body or {}).get("metadata", {}).get("resourceVersion")
        if current is not None and want is not None and want != current["metadata"]["resourceVersion"]:
            return 409, _status(409, "Conflict")
        new = merge_patch(current, body) if method == "PATCH" else copy.deepcopy(body)
        _validate(new)  # an API server with the CRD installed rejects invalid objects
        if dry:
            return 200, new
        self.put(path, new)
        return 200, self.objects[path]


def _status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}


@functools.cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    plural = {"DestinationRule": "destinationrules", "VirtualService": "virtualservices"}[kind]
    crd = yaml.load((ISTIO / f"{plural}.networking.istio.io.yaml").read_text(), Loader=_LOADER)
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(schema)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _validate(obj: dict[str, Any]) -> None:
    _validator(obj["kind"]).validate(obj)


@pytest.fixture
def api() -> Iterator[tuple[FakeApi, KubernetesApplier]]:
    fake = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n)) if n else None
            code, out = fake.handle(self.command, self.path, body)
            data = json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    cfg = client.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    cfg.retries = 0
    applier = KubernetesApplier(client.CustomObjectsApi(client.ApiClient(cfg)))
    try:
        yield fake, applier
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


VS_PATH = PREFIX + "default/virtualservices/reviews"
HOST = "reviews.default.svc.cluster.local"


def _live_vs(weights: dict[str, int]) -> dict[str, Any]:
    vs = virtual_service("reviews", "default", HOST, weights)
    vs["spec"]["http"].insert(
        0,
        {
            "match": [{"headers": {"x-test": {"exact": "1"}}}],
            "route": [{"destination": {"host": HOST, "subset": "v2"}}],
        },
    )
    return vs


def _rec(before: dict[str, int], after: dict[str, int]) -> Recommendation:
    return Recommendation.make(
        "traffic-shift",
        "default",
        "reviews",
        1.0,
        "t",
        "r",
        {},
        manifest=virtual_service("reviews", "default", HOST, after),
        weights_before=before,
        weights_after=after,
    )


def test_patch_changes_only_the_weights_with_a_resource_version(api):
    fake, applier = api
    fake.put(VS_PATH, _live_vs({"v1": 50, "v2": 50}))
    result = applier.apply(_rec({"v1": 50, "v2": 50}, {"v1": 70, "v2": 30}))
    assert result.outcome == "applied"
    stored = fake.objects[VS_PATH]
    assert route_weights(stored, "reviews") == {"v1": 70, "v2": 30}
    assert stored["spec"]["http"][0]["match"]  # the person's match route survived
    assert applier.read_weights("default", "reviews") == {"v1": 70, "v2": 30}
    assert [m for m, _ in fake.requests] == ["GET", "PATCH", "GET"]


def test_server_side_dry_run_stores_nothing(api):
    fake, applier = api
    fake.put(VS_PATH, _live_vs({"v1": 50, "v2": 50}))
    rv = fake.objects[VS_PATH]["metadata"]["resourceVersion"]
    result = applier.apply(_rec({"v1": 50, "v2": 50}, {"v1": 70, "v2": 30}), dry_run=True)
    assert result.outcome == "dry-run"
    assert any("dryRun=All" in p for m, p in fake.requests if m == "PATCH")
    assert fake.objects[VS_PATH]["metadata"]["resourceVersion"] == rv
    assert route_weights(fake.objects[VS_PATH], "reviews") == {"v1": 50, "v2": 50}


def test_conflict_on_unrelated_change_is_re_read_and_re_applied(api):
    fake, applier = api
    fake.put(VS_PATH, _live_vs({"v1": 50, "v2": 50}))

    def someone_adds_a_label(f: FakeApi, path: str) -> None:
        f.put(path, merge_patch(f.objects[path], {"metadata": {"labels": {"team": "x"}}}))

    fake.before_write = someone_adds_a_label
    result = applier.apply(_rec({"v1": 50, "v2": 50}, {"v1": 70, "v2": 30}))
    assert result.outcome == "applied"
    assert [m for m, _ in fake.requests] == ["GET", "PATCH", "GET", "PATCH"]  # 409, re-read, re-decide
    assert fake.objects[VS_PATH]["metadata"]["labels"]["team"] == "x"
    assert route_weights(fake.objects[VS_PATH], "reviews") == {"v1": 70, "v2": 30}


def test_conflict_with_a_manual_weight_edit_stands_down(api):
    fake, applier = api
    fake.put(VS_PATH, _live_vs({"v1": 50, "v2": 50}))

    def person_edits_weights(f: FakeApi, path: str) -> None:
        obj = copy.deepcopy(f.objects[path])
        obj["spec"]["http"][1]["route"][0]["weight"], obj["spec"]["http"][1]["route"][1]["weight"] = 10, 90
        f.put(path, obj)

    fake.before_write = person_edits_weights
    result = applier.apply(_rec({"v1": 50, "v2": 50}, {"v1": 70, "v2": 30}))
    assert result.outcome == "manual-edit"
    assert route_weights(fake.objects[VS_PATH], "reviews") == {"v1": 10, "v2": 90}


def test_manual_edit_before_apply_is_refused(api):
    fake, applier = api
    fake.put(VS_PATH, _live_vs({"v1": 80, "v2": 20}))
    assert applier.apply(_rec({"v1": 50, "v2": 50}, {"v1": 70, "v2": 30})).outcome == "manual-edit"
    assert [m for m, _ in fake.requests] == ["GET"]


def test_destination_rule_is_created_then_patched(api):
    fake, applier = api
    policy = {"outlierDetection": {"consecutive5xxErrors": 7, "interval": "10s"}}
    dr = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "reviews", "namespace": "default"},
        "spec": {"host": HOST, "trafficPolicy": policy},
    }
    rec = Recommendation.make("destination-rule", "default", "reviews", 1.0, "t", "r", {}, manifest=dr)
    assert applier.apply(rec, dry_run=True).outcome == "dry-run"
    assert PREFIX + "default/destinationrules/reviews" not in fake.objects
    assert applier.apply(rec).outcome == "applied"
    path = PREFIX + "default/destinationrules/reviews"
    fake.put(
        path, merge_patch(fake.objects[path], {"spec": {"trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}})
    )
    dr2 = merge_patch(dr, {"spec": {"trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 9}}}})
    rec2 = Recommendation.make("destination-rule", "default", "reviews", 2.0, "t", "r", {}, manifest=dr2)
    assert applier.apply(rec2).outcome == "applied"
    tp = fake.objects[path]["spec"]["trafficPolicy"]
    assert tp["outlierDetection"]["consecutive5xxErrors"] == 9 and tp["tls"]["mode"] == "ISTIO_MUTUAL"


def test_missing_object_and_server_errors_fail_cleanly(api):
    _, applier = api
    assert applier.read_weights("default", "reviews") is None
    assert applier.apply(_rec({"v1": 50, "v2": 50}, {"v1": 70, "v2": 30})).outcome == "failed"
