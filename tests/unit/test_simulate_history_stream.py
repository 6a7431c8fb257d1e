"""Streamed history: the same samples as the series-major renderer, in bounded memory."""

import io
import tracemalloc

from detector.simulate.exposition import Renderer
from detector.simulate.history import BLOCK_S, write_history
from detector.simulate.topology import Topology
from detector.simulate.traffic import Mesh

START = 1_700_000_000.0 // BLOCK_S * BLOCK_S + 60


def _samples(text: str) -> list[str]:
    return sorted(ln for ln in text.splitlines() if ln and not ln.startswith("#"))


def test_streamed_file_holds_the_renderers_samples(tmp_path) -> None:
    topo = Topology.online_boutique()
    (path,) = write_history(topo, START, START + 600, 60, tmp_path, seed=4)
    mesh, frames = Mesh(topo, seed=4, start=START), []
    for i in range(10):
        mesh.advance(START + 60 * i)
        frames.append(mesh.snapshot())
    buf = io.StringIO()
    Renderer(mesh.layout).openmetrics(frames, buf)
    text = path.read_text()
    assert _samples(text) == _samples(buf.getvalue())
    assert text.startswith("# TYPE istio_requests counter\n") and text.endswith("# EOF\n")


def test_each_series_is_in_time_order(tmp_path) -> None:
    (path,) = write_history(Topology.online_boutique(), START, START + 600, 60, tmp_path, seed=4)
    last: dict[str, float] = {}
    for ln in path.read_text().splitlines():
        if ln.startswith("#"):
            continue
        series, _, stamp = ln.rsplit(" ", 2)
        assert float(stamp) > last.get(series, -1.0)
        last[series] = float(stamp)


def test_memory_does_not_grow_with_the_window(tmp_path) -> None:
    topo = Topology.synthetic(40, seed=1)

    def peak(steps: int) -> int:
        tracemalloc.start()
        write_history(topo, START, START + 15 * steps, 15, tmp_path / str(steps), seed=1)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    short, long = peak(8), peak(64)
    assert long < 1.5 * short  # buffering frames would make it ~8x
