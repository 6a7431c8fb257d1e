"""deploy/k8s/sharded/: the multi-shard overlay patches the base StatefulSet it claims to patch.

No kustomize binary here, so the patch is merged the way a strategic merge treats these fields
(containers and env merge by name) and the result is checked for what sharding needs: more than
one replica, each pod its own shard id, and a PostgreSQL store URL from a Secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from detector.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAY = K8S / "sharded"


def merged_statefulset() -> dict[str, Any]:
    base = yaml.safe_load((K8S / "statefulset.yaml").read_text())
    kustomization = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [".."]
    for patch_ref in kustomization["patches"]:
        patch = yaml.safe_load((OVERLAY / patch_ref["path"]).read_text())
        assert (patch["kind"], patch["metadata"]["name"]) == (base["kind"], base["metadata"]["name"])
        base["spec"]["replicas"] = patch["spec"].get("replicas", base["spec"]["replicas"])
        containers = {c["name"]: c for c in base["spec"]["template"]["spec"]["containers"]}
        for container in patch["spec"]["template"]["spec"]["containers"]:
            target = containers[container["name"]]  # a typo in the name would add a container
            env = {e["name"]: e for e in target.get("env", [])}
            env.update({e["name"]: e for e in container.get("env", [])})
            target["env"] = list(env.values())
    return base


def env_of(statefulset: dict[str, Any]) -> dict[str, Any]:
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_overlay_runs_several_shards_on_a_shared_store() -> None:
    statefulset = merged_statefulset()
    env = env_of(statefulset)
    assert statefulset["spec"]["replicas"] > 1
    assert env["MESHPULSE_SHARD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "secretKeyRef" in env["MESHPULSE_STATE_URL"]["valueFrom"]
    assert "secretKeyRef" in env["PGPASSWORD"]["valueFrom"]


def test_every_meshpulse_variable_is_a_setting() -> None:
    """A misspelt MESHPULSE_* variable would be ignored silently by the service."""
    fields = {f"MESHPULSE_{name.upper()}" for name in Settings.model_fields}
    names = {n for n in env_of(merged_statefulset()) if n.startswith("MESHPULSE_")}
    assert names <= fields, names - fields
