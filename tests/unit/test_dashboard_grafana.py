"""deploy/grafana/meshpulse.json only queries metrics MeshPulse really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from detector.telemetry import Telemetry

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "meshpulse.json"


def exported_names() -> set[str]:
    """Sample names of every family, labelled or not (a labelled family has no samples until used)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {f.name + s for f in Telemetry().registry.collect() for s in suffixes.get(f.type, ("",))}


def test_every_metric_a_panel_queries_is_exported() -> None:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used = {m for e in exprs for m in re.findall(r"\b(meshpulse_[a-z_]+)", e)}
    assert used and used <= exported_names(), used - exported_names()


def test_panels_have_unique_ids_and_a_templated_datasource() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dash["panels"] if p["type"] != "row")
