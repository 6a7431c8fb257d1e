"""Write recommendations as YAML files a GitOps tool (Argo CD, Flux) syncs; one file per object.

Layout: ``{directory}/{namespace}/{kind}-{name}.yaml``, formatted stably so a commit
diff shows only what changed. The writer never commits or pushes: a person or CI does,
which is the approval step. The files also serve as the live weights, so an edit a
person made to a file is detected exactly as one made in the cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from detector.act.base import ApplyResult
from detector.decide.manifests import route_weights, to_yaml
from detector.decide.records import Recommendation


class GitOpsWriter:
    name = "gitops"

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, kind: str, namespace: str, name: str) -> Path:
        return self.directory / namespace / f"{kind.lower()}-{name}.yaml"

    def apply(self, rec: Recommendation, *, dry_run: bool = False) -> ApplyResult:
        if rec.manifest is None:
            return ApplyResult("skipped", "nothing to write")
        meta = rec.manifest["metadata"]
        path = self.path(rec.manifest["kind"], meta["namespace"], meta["name"])
        if rec.weights_before is not None and path.exists():
            live = self.read_weights(meta["namespace"], rec.service)
            if live != rec.weights_before:
                return ApplyResult(
                    "manual-edit", f"{path} has {live}, expected {rec.weights_before}", str(path)
                )
        if dry_run:
            return ApplyResult("dry-run", f"would write {path}", str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(to_yaml(rec.manifest))
        os.replace(tmp, path)  # atomic: a sync never sees half a file
        return ApplyResult("applied", f"wrote {path}", str(path))

    def read_weights(self, namespace: str, service: str) -> dict[str, int] | None:
        path = self.path("VirtualService", namespace, service)
        if not path.exists():
            return None
        vs = yaml.safe_load(path.read_text()) or {}
        return route_weights(vs, service)
