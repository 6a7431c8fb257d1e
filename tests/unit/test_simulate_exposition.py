"""Both text formats parse with the reference client and carry Istio's standard labels."""

import io

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from detector.simulate.exposition import BUCKETS_MS, Renderer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

REQUIRED = {
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_app",
    "source_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_workload",
    "destination_workload_namespace",
    "destination_app",
    "destination_version",
    "response_code",
    "response_flags",
    "request_protocol",
    "connection_security_policy",
    "pod",
    "namespace",
}
T0 = 1_699_999_200.0


def mesh_after(seconds: float) -> Mesh:
    mesh = Mesh(Topology.online_boutique(), seed=5, start=T0)
    mesh.advance(T0 + seconds)
    return mesh


def test_text_parses_with_required_labels_and_consistent_histograms() -> None:
    mesh = mesh_after(900)
    families = {f.name: f for f in text_string_to_metric_families(Renderer(mesh.layout).text(mesh.counters))}
    requests = families["istio_requests"]
    assert requests.type == "counter"
    assert all(set(s.labels) == REQUIRED for s in requests.samples)
    reporters = {(s.labels["reporter"], s.labels["connection_security_policy"]) for s in requests.samples}
    assert reporters == {("destination", "mutual_tls"), ("source", "unknown")}
    fe = [
        s
        for s in requests.samples
        if s.labels["reporter"] == "destination"
        and s.labels["destination_service"] == "frontend.default.svc.cluster.local"
    ]
    assert {s.labels["source_workload"] for s in fe} == {"istio-ingressgateway"}
    assert all(s.labels["namespace"] == "default" for s in fe)

    hist = families["istio_request_duration_milliseconds"]
    by_series: dict[tuple, dict[str, list]] = {}
    for s in hist.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        by_series.setdefault(key, {}).setdefault(s.name, []).append((s.labels.get("le"), s.value))
    assert len(by_series) == len(requests.samples)
    for parts in by_series.values():
        les = [le for le, _ in parts["istio_request_duration_milliseconds_bucket"]]
        assert les[-1] == "+Inf" and [float(le) for le in les[:-1]] == list(BUCKETS_MS)
        counts = [v for _, v in parts["istio_request_duration_milliseconds_bucket"]]
        assert counts == sorted(counts)
        assert counts[-1] == parts["istio_request_duration_milliseconds_count"][0][1] > 0


def test_request_counter_matches_histogram_count() -> None:
    mesh = mesh_after(300)
    samples = {}
    for fam in text_string_to_metric_families(Renderer(mesh.layout).text(mesh.counters)):
        for s in fam.samples:
            if s.name in ("istio_requests_total", "istio_request_duration_milliseconds_count"):
                samples.setdefault(tuple(sorted(s.labels.items())), []).append(s.value)
    assert samples and all(len(v) == 2 and v[0] == v[1] for v in samples.values())


def openmetrics(frames: int) -> tuple[str, list]:
    mesh = Mesh(Topology.online_boutique(), seed=5, start=T0)
    snaps = []
    for k in range(1, frames + 1):
        mesh.advance(T0 + 60 * k)
        snaps.append(mesh.snapshot())
    buf = io.StringIO()
    Renderer(mesh.layout).openmetrics(snaps, buf)
    return buf.getvalue(), snaps


def test_openmetrics_frame_parses_strictly() -> None:
    text, _ = openmetrics(1)
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(text)}
    assert families["istio_requests"].type == "counter"
    assert families["istio_request_duration_milliseconds"].type == "histogram"
    assert {float(s.timestamp) for s in families["istio_requests"].samples} == {T0 + 60}


def test_openmetrics_groups_each_series_over_time() -> None:
    """prometheus_client's strict parser rejects multi-timestamp histograms, so check order by hand."""
    text, snaps = openmetrics(3)
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    counters = [ln for ln in lines if ln.startswith("istio_requests_total{")]
    first_series = counters[0].rsplit(" ", 2)[0]
    run = [ln.rsplit(" ", 2) for ln in counters[:3]]
    assert all(r[0] == first_series for r in run)
    assert [float(r[2]) for r in run] == [T0 + 60, T0 + 120, T0 + 180]
    values = [float(r[1]) for r in run]
    assert values == sorted(values) and values[-1] == snaps[-1][1].requests[0, 0]
    hist = [ln for ln in lines if ln.startswith("istio_request_duration_milliseconds")]
    per_point = len(BUCKETS_MS) + 3
    assert len(hist) == per_point * len(counters)
    point = hist[per_point : 2 * per_point]
    assert point[-3].startswith("istio_request_duration_milliseconds_bucket") and 'le="+Inf"' in point[-3]
    assert point[-3].split()[-2] == point[-2].split()[-2]  # +Inf bucket == _count
    assert {ln.split()[-1] for ln in point} == {f"{T0 + 120:.3f}"}
