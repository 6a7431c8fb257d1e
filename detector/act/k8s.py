"""Apply recommendations to Istio objects with the official ``kubernetes`` client.

Writes are JSON merge patches carrying the ``resourceVersion`` that was read, so the API
server refuses (409) if anyone wrote in between. On a 409 we re-read and decide again
from the fresh object: if the route's weights are still those the recommendation was
made from, the patch is rebuilt on top of the new object; if they changed, a person
was there first and we stand down (``manual-edit``). Never a blind overwrite.

Only the weights of the one route that splits the service across its subsets are
changed; match rules, retries and other routes in the VirtualService are left alone.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from detector.act.base import ApplyResult
from detector.decide.manifests import route_weights, with_weights
from detector.decide.records import TRAFFIC_KINDS, Recommendation

GROUP, VERSION = "networking.istio.io", "v1"


class KubernetesApplier:
    name = "kubernetes"

    def __init__(
        self,
        api: Any | None = None,
        *,
        max_attempts: int = 3,
        field_manager: str = "meshpulse",
        timeout_s: float = 5.0,
    ) -> None:
        self.api: Any = api if api is not None else client.CustomObjectsApi(_api_client())
        self.max_attempts = max_attempts
        self.field_manager = field_manager
        self.timeout_s = timeout_s
        """Per request: a hung API server must not hold up the cycle that reads weights."""

    # reads --------------------------------------------------------------------------------------
    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, _request_timeout=self.timeout_s
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def read_weights(self, namespace: str, service: str) -> dict[str, int] | None:
        vs = self.get("virtualservices", namespace, service)
        return route_weights(vs, service) if vs else None

    # writes -------------------------------------------------------------------------------------
    def apply(self, rec: Recommendation, *, dry_run: bool = False) -> ApplyResult:
        if rec.manifest is None:
            return ApplyResult("skipped", "nothing to apply")
        try:
            if rec.kind in TRAFFIC_KINDS:
                return self._retry(lambda: self._weights(rec, dry_run))
            if rec.kind == "destination-rule":
                return self._retry(lambda: self._destination_rule(rec, dry_run))
        except ApiException as exc:
            return ApplyResult("failed", f"HTTP {exc.status}: {exc.reason}", _ref(rec))
        return ApplyResult("skipped", f"{rec.kind} has nothing to apply")

    def _retry(self, attempt: Any) -> ApplyResult:
        for _ in range(self.max_attempts):
            try:
                result: ApplyResult = attempt()
                return result
            except ApiException as exc:
                if exc.status != 409:
                    raise
        return ApplyResult("conflict", f"still conflicting after {self.max_attempts} attempts")

    def _weights(self, rec: Recommendation, dry_run: bool) -> ApplyResult:
        ns, name, ref = rec.namespace, rec.service, _ref(rec)
        live = self.get("virtualservices", ns, name)
        if live is None:
            return ApplyResult("failed", "the VirtualService does not exist", ref)
        weights = route_weights(live, rec.service)
        if weights is None:
            return ApplyResult("failed", "no route splits the service across subsets", ref)
        if weights == rec.weights_after:
            return ApplyResult("applied", "already at the recommended weights", ref)
        if weights != rec.weights_before:
            return ApplyResult(
                "manual-edit", f"live weights {weights}, decided from {rec.weights_before}", ref
            )
        new = with_weights(live, rec.service, rec.weights_after or {})
        patch = {
            "metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
            "spec": {"http": new["spec"]["http"]},
        }
        return self._patch("virtualservices", ns, name, patch, dry_run, ref)

    def _destination_rule(self, rec: Recommendation, dry_run: bool) -> ApplyResult:
        assert rec.manifest is not None
        ns, name, ref = rec.namespace, rec.manifest["metadata"]["name"], _ref(rec)
        live = self.get("destinationrules", ns, name)
        if live is None:
            kw: dict[str, Any] = {"_request_timeout": self.timeout_s}
            kw |= {"dry_run": "All"} if dry_run else {}
            self.api.create_namespaced_custom_object(
                GROUP, VERSION, ns, "destinationrules", rec.manifest, **kw
            )
            return ApplyResult("dry-run" if dry_run else "applied", "created", ref)
        policy = rec.manifest["spec"]["trafficPolicy"]
        patch = {
            "metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
            "spec": {"trafficPolicy": policy},
        }
        return self._patch("destinationrules", ns, name, patch, dry_run, ref)

    def _patch(
        self, plural: str, ns: str, name: str, body: dict[str, Any], dry_run: bool, ref: str
    ) -> ApplyResult:
        kw: dict[str, Any] = {"field_manager": self.field_manager, "_request_timeout": self.timeout_s}
        if dry_run:
            kw["dry_run"] = "All"
        out: dict[str, Any] = self.api.patch_namespaced_custom_object(
            GROUP, VERSION, ns, plural, name, body, **kw
        )
        rv = out.get("metadata", {}).get("resourceVersion", "")
        return ApplyResult("dry-run" if dry_run else "applied", f"resourceVersion {rv}", ref)


def _ref(rec: Recommendation) -> str:
    kind = rec.manifest["kind"] if rec.manifest else rec.kind
    return f"{kind}/{rec.namespace}/{rec.service}"


def _api_client() -> Any:
    """In-cluster credentials when running in a pod, else the local kubeconfig."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()
