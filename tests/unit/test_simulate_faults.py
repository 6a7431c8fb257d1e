"""Fault validation, ground truth and the random schedule."""

import itertools
import json

import pytest

from detector.simulate.faults import FaultKind, FaultSchedule
from detector.simulate.topology import Topology

TOPO = Topology.online_boutique()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "meteor", "service": "cartservice"}, "unknown fault kind"),
        ({"kind": "latency_spike", "service": "nope"}, "unknown service"),
        ({"kind": "bad_pod", "service": "cartservice"}, "needs a pod"),
        ({"kind": "bad_pod", "service": "cartservice", "pod": "frontend-x"}, "no pod"),
        ({"kind": "canary_regression", "service": "cartservice"}, "no subset 'v2'"),
        ({"kind": "latency_spike", "service": "cartservice", "subset": "v9"}, "no subset"),
    ],
)
def test_invalid_faults_are_rejected_with_a_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultSchedule().add(TOPO, start=0, duration_s=60, **kwargs)


def test_canary_defaults_to_v2_and_labels_are_json() -> None:
    sched = FaultSchedule()
    fault = sched.add(TOPO, "canary_regression", "productcatalogservice", start=100, duration_s=50)
    assert fault.subset == "v2"
    label = json.loads(json.dumps(sched.labels()))[0]
    assert label | {"kind": "canary_regression", "start": 100.0, "end": 150.0} == label
    assert sched.labels(until=99) == []


def test_end_shortens_but_never_extends() -> None:
    sched = FaultSchedule()
    f = sched.add(TOPO, "error_burst", "cartservice", start=100, duration_s=50)
    assert sched.end(f.id, 120).end == 120
    assert sched.end(f.id, 500).end == 120
    with pytest.raises(KeyError):
        sched.end("missing", 1)


def test_effects_target_only_the_named_pod() -> None:
    pod = TOPO.workload("cartservice").pods["v1"][1]
    sched = FaultSchedule()
    sched.add(TOPO, "bad_pod", "cartservice", start=0, duration_s=10, pod=pod)
    table = TOPO.pod_table()
    fx = sched.effects(5, table)
    assert list(table.name[fx.latency_mult > 1]) == [pod]
    assert list(table.name[fx.error_floor > 0]) == [pod]
    assert sched.effects(10, table).latency_mult.max() == 1.0  # end is exclusive


def test_slow_degradation_ramps_linearly() -> None:
    sched = FaultSchedule()
    sched.add(TOPO, "slow_degradation", "adservice", start=0, duration_s=100, magnitude=11)
    table = TOPO.pod_table()
    assert sched.effects(0, table).latency_mult.max() == pytest.approx(1.0)
    assert sched.effects(50, table).latency_mult.max() == pytest.approx(6.0)


def test_random_schedule_is_deterministic_and_non_overlapping() -> None:
    a = FaultSchedule.random(TOPO, 0, 36000, seed=4, every_s=3600).labels()
    assert a == FaultSchedule.random(TOPO, 0, 36000, seed=4, every_s=3600).labels()
    assert len(a) == 10
    spans = sorted((f["start"], f["end"]) for f in a)
    assert all(e1 <= s2 for (_, e1), (s2, _) in itertools.pairwise(spans))
    assert all(s >= 0 and e <= 36000 for s, e in spans)
    assert {f["kind"] for f in a} <= {k.value for k in FaultKind}
    assert all(f["pod"] for f in a if f["kind"] == "bad_pod")
