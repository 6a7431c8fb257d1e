"""deploy/k8s/: every document parses, has what its kind needs, and says what MeshPulse expects.

Built-in kinds are also checked against the Kubernetes OpenAPI schemas when
``kubernetes-validate`` is installed (it ships the schemas, so it works offline); the
Prometheus Operator kinds are checked by hand here. The PrometheusRule must carry exactly the
groups of alerts/rules/*.yml, which promtool tests, and of the recording rules MeshPulse's
``recorded_histograms`` setting reads (deploy/prometheus/meshpulse-rules.yml, which
``promtool check rules`` checks), so none of them can drift.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
RULES = ROOT / "alerts" / "rules"
RECORDING_RULES = ROOT / "deploy" / "prometheus" / "meshpulse-rules.yml"
NAMESPACE = "meshpulse"
KUBERNETES_VERSION = "1.30.0"
API_VERSIONS = {
    "Namespace": "v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Service": "v1",
    "StatefulSet": "apps/v1",
    "PodDisruptionBudget": "policy/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
RULE_HEADER = (
    "# Generated from alerts/rules/*.yml and deploy/prometheus/meshpulse-rules.yml (the files promtool\n"
    "# tests and checks); do not edit by hand.\n"
    "# Regenerate: .venv/bin/python tests/unit/test_k8s_manifests.py --write\n"
)


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def one(kind: str) -> dict[str, Any]:
    found = of_kind(kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in [*sorted(RULES.glob("*.yml")), RECORDING_RULES]:
        groups += yaml.safe_load(path.read_text())["groups"]
    return groups


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "meshpulse",
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": "meshpulse"},
        },
        "spec": {"groups": rule_groups()},
    }


# every document -------------------------------------------------------------------------------
def test_every_kind_is_present_with_its_api_version() -> None:
    docs = documents()
    assert {d["kind"] for d in docs} == set(API_VERSIONS)
    for d in docs:
        assert d["apiVersion"] == API_VERSIONS[d["kind"]], d["kind"]
        assert d["metadata"]["name"]
        if d["kind"] not in CLUSTER_SCOPED:
            assert d["metadata"].get("namespace") == NAMESPACE, d["metadata"]["name"]


def test_kustomization_lists_every_file() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_builtin_kinds_match_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for d in documents():
        if d["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # CRDs: no schema shipped; checked below
        kubernetes_validate.validate(d, KUBERNETES_VERSION, strict=True)


# workload -------------------------------------------------------------------------------------
def container() -> dict[str, Any]:
    containers = one("StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    c: dict[str, Any] = containers[0]
    return c


def test_statefulset_names_shards_after_pods_and_selects_its_template() -> None:
    sts = one("StatefulSet")
    spec = sts["spec"]
    assert spec["serviceName"] in {s["metadata"]["name"] for s in of_kind("Service")}
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    env = {e["name"]: e for e in container()["env"]}
    assert env["MESHPULSE_SHARD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert spec["template"]["spec"]["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]


def test_probes_liveness_on_healthz_readiness_on_readyz() -> None:
    c = container()
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port_names = {p["name"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["port"] in port_names
    assert c["readinessProbe"]["httpGet"]["port"] in port_names


def test_container_runs_unprivileged_with_a_read_only_root() -> None:
    sc = container()["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    pod = one("StatefulSet")["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001  # the image's user


def test_config_is_mounted_and_state_path_is_on_the_volume() -> None:
    config = yaml.safe_load(one("ConfigMap")["data"]["config.yaml"])
    mounts = {m["name"]: m["mountPath"] for m in container()["volumeMounts"]}
    assert "--config" in container()["args"]
    assert container()["args"][container()["args"].index("--config") + 1] == mounts["config"]
    assert config["state_path"].startswith(mounts["state"] + "/")
    assert "shard_id" not in config, "each pod sets its own shard id"


def test_settings_in_the_configmap_are_known() -> None:
    from detector.settings import Settings

    config = yaml.safe_load(one("ConfigMap")["data"]["config.yaml"])
    unknown = set(config) - set(Settings.model_fields)
    if unknown <= {"lease_s"} and "lease_s" not in Settings.model_fields:
        pytest.skip("lease_s waits for the sharding settings to be wired")
    assert unknown == set()


def test_pdb_selects_the_pods_and_never_blocks_a_drain_of_one_replica() -> None:
    pdb = one("PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"] == one("StatefulSet")["spec"]["selector"]["matchLabels"]
    assert "maxUnavailable" in pdb and "minAvailable" not in pdb


# RBAC -----------------------------------------------------------------------------------------
def test_rbac_is_exactly_get_list_watch_patch_on_istio_routing() -> None:
    rules = one("ClusterRole")["rules"]
    assert rules == [
        {
            "apiGroups": ["networking.istio.io"],
            "resources": ["virtualservices", "destinationrules"],
            "verbs": ["get", "list", "watch", "patch"],
        }
    ]


def test_role_is_bound_to_the_pods_service_account_only() -> None:
    binding, account = one("ClusterRoleBinding"), one("ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one("ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]


# monitoring -----------------------------------------------------------------------------------
def test_servicemonitor_scrapes_one_service_named_like_the_health_rules_job() -> None:
    monitor = one("ServiceMonitor")["spec"]
    selected = [
        s
        for s in of_kind("Service")
        if monitor["selector"]["matchLabels"].items() <= s["metadata"].get("labels", {}).items()
    ]
    assert [s["metadata"]["name"] for s in selected] == ["meshpulse"]  # job="meshpulse"
    port_names = {p["name"] for p in selected[0]["spec"]["ports"]}
    assert [e["path"] for e in monitor["endpoints"]] == ["/metrics"]
    assert {e["port"] for e in monitor["endpoints"]} <= port_names
    assert 'job="meshpulse"' in (RULES / "meshpulse-health.yml").read_text()


def test_prometheusrule_carries_exactly_the_tested_rule_files() -> None:
    rule = one("PrometheusRule")
    assert rule == prometheus_rule(), "stale: regenerate with tests/unit/test_k8s_manifests.py --write"
    recorded = {r.get("record") for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "meshpulse_service:istio_request_duration_milliseconds_bucket:rate1m" in recorded
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert r["expr"] and ("alert" in r or "record" in r)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    body = yaml.safe_dump(prometheus_rule(), sort_keys=False, allow_unicode=True, width=100)
    (K8S / "prometheusrule.yaml").write_text(RULE_HEADER + body)
