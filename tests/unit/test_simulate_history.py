"""History files: 2-hour windows, continuity with the live mesh, promtool failures surfaced."""

import pytest

from detector.simulate.history import BLOCK_S, backfill, write_history
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

START = 1_700_000_000.0 // BLOCK_S * BLOCK_S + BLOCK_S - 1200  # 20 min before a block boundary


def test_files_split_on_two_hour_boundaries(tmp_path) -> None:
    topo = Topology.online_boutique()
    files = write_history(topo, START, START + 2400, 60, tmp_path, seed=2)
    assert [f.name for f in files] == [
        f"history-{int(START // BLOCK_S * BLOCK_S)}.om.txt",
        f"history-{int(START // BLOCK_S * BLOCK_S + BLOCK_S)}.om.txt",
    ]
    for f in files:
        text = f.read_text()
        assert text.endswith("# EOF\n") and text.count("# EOF") == 1
        stamps = {float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if not ln.startswith("#")}
        window = int(min(stamps) // BLOCK_S)
        assert all(int(t // BLOCK_S) == window for t in stamps)
    assert len(stamps) == 20  # end is exclusive: 40 steps split 20/20


def test_live_mesh_continues_from_history(tmp_path) -> None:
    topo = Topology.online_boutique()
    mesh = Mesh(topo, seed=2, start=START)
    write_history(topo, START, START + 600, 60, tmp_path, mesh=mesh)
    assert mesh.t == START + 540
    ended_at = mesh.counters.requests.copy()
    last_file = (tmp_path / f"history-{int(START // BLOCK_S * BLOCK_S)}.om.txt").read_text()
    counters = [ln for ln in last_file.splitlines() if ln.startswith("istio_requests_total")]
    last_counter = counters[-1]
    assert float(last_counter.rsplit(" ", 2)[1]) in set(ended_at.ravel())
    mesh.advance(START + 600)
    assert (mesh.counters.requests >= ended_at).all() and mesh.counters.requests.sum() > ended_at.sum()


def test_backfill_reports_promtool_errors(tmp_path) -> None:
    bad = tmp_path / "bad.om.txt"
    bad.write_text("not openmetrics\n")
    with pytest.raises(RuntimeError, match="promtool failed"):
        backfill([bad], tmp_path / "tsdb", promtool="false")
