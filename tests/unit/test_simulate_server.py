"""The live simulator over real HTTP on an ephemeral port."""

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from detector.simulate.server import SimulatorServer
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[tuple[httpx.Client, FakeClock, SimulatorServer]]:
    clock = FakeClock()
    server = SimulatorServer(Mesh(Topology.online_boutique(), seed=1, start=T0), clock=clock).start()
    try:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            yield client, clock, server
    finally:
        server.stop()


def frontend_requests(text: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "istio_requests_total"
        and s.labels["reporter"] == "destination"
        and s.labels["destination_service_name"] == "frontend"
    )


def test_metrics_advance_with_the_clock(sim) -> None:
    client, clock, server = sim
    assert server.port > 0 and server.url.startswith("http://127.0.0.1:")
    clock.now += 60
    first = client.get("/metrics")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain")
    clock.now += 60
    second = frontend_requests(client.get("/metrics").text)
    assert second > frontend_requests(first.text) > 0


def test_fault_lifecycle(sim) -> None:
    client, clock, _ = sim
    assert client.get("/faults").json() == []
    created = client.post(
        "/faults", json={"kind": "latency_spike", "service": "cartservice", "duration_s": 300, "magnitude": 8}
    )
    assert created.status_code == 201
    label = created.json()
    assert label["start"] == T0 and label["end"] == T0 + 300 and label["magnitude"] == 8
    assert client.get("/faults").json() == [label]
    clock.now += 30
    ended = client.delete(f"/faults/{label['id']}")
    assert ended.status_code == 200 and ended.json()["end"] == T0 + 30
    assert client.delete("/faults/f9999").status_code == 404


def test_future_faults_are_hidden_until_they_start(sim) -> None:
    client, clock, _ = sim
    client.post(
        "/faults", json={"kind": "traffic_drop", "service": "adservice", "duration_s": 60, "start": T0 + 600}
    )
    assert client.get("/faults").json() == []
    clock.now += 600
    assert len(client.get("/faults").json()) == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('{"kind": "latency_spike"', "invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"kind": "latency_spike", "service": "nope", "duration_s": 5}', "unknown service"),
        ('{"kind": "meteor", "service": "cartservice", "duration_s": 5}', "unknown fault kind"),
        ('{"kind": "bad_pod", "service": "cartservice", "pod": "x", "duration_s": 5}', "no pod"),
        ('{"kind": "latency_spike", "service": "cartservice"}', "missing field 'duration_s'"),
        ('{"kind": "latency_spike", "service": "cartservice", "duration_s": "soon"}', "must be numbers"),
        ('{"kind": "latency_spike", "service": "cartservice", "duration_s": -1}', "positive"),
        (
            '{"kind": "latency_spike", "service": "cartservice", "duration_s": 5, "colour": 1}',
            "unknown fields",
        ),
    ],
)
def test_bad_fault_requests_get_400_with_reason(sim, body: str, needle: str) -> None:
    client, _, _ = sim
    resp = client.post("/faults", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert needle in resp.json()["error"]


def test_topology_and_unknown_routes(sim) -> None:
    client, _, _ = sim
    topo = client.get("/topology").json()
    assert len(topo["services"]) == 11 and topo["ingress"]["namespace"] == "istio-system"
    assert client.get("/nope").status_code == 404
    assert client.post("/metrics", json={}).status_code == 404
