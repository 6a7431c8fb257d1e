import numpy as np
import pytest

from detector.scrape import promql
from detector.scrape.source import PrometheusSource, ScrapeError, grid, key_from_labels, place
from detector.series import Scope, SeriesKey, Signal


def test_every_scope_has_rate_ratio_and_histogram_queries():
    queries = list(promql.cycle_queries("1m"))
    assert {(q.signal, q.scope) for q in queries} == {
        (s, sc) for s in (Signal.RATE, Signal.ERROR_RATIO, None) for sc in Scope
    }
    assert all("_bucket" in q.expr and "le)" in q.expr for q in queries if q.signal is None)


def test_reporters_are_chosen_per_scope():
    by = {(q.signal, q.scope): q.expr for q in promql.cycle_queries("1m")}
    assert 'reporter="destination"' in by[(Signal.RATE, Scope.POD)]
    assert 'reporter="source"' in by[(Signal.RATE, Scope.EDGE)]
    assert "source_workload" in by[(None, Scope.EDGE)]


def test_error_ratio_is_zero_not_absent_without_5xx_series():
    expr = promql.error_ratio(Scope.SERVICE, "1m", promql.selector(Scope.SERVICE))
    assert " or " in expr and "* 0" in expr and 'response_code=~"5.."' in expr


def test_quantile_groups_by_le():
    expr = promql.latency_quantile(0.99, Scope.VERSION, "2m", promql.selector(Scope.VERSION))
    assert expr.startswith("histogram_quantile(0.99,") and "destination_version, le)" in expr


def test_selector_escapes_regex_dots_and_quotes():
    sel = promql.selector(Scope.SERVICE, namespaces=["a.b"], services=['x"y'])
    assert 'destination_service_namespace=~"a\\\\.b"' in sel
    assert 'x\\"y' in sel


def test_grid_is_inclusive_and_empty_when_reversed():
    assert grid(0, 45, 15).tolist() == [0, 15, 30, 45]
    assert len(grid(60, 0, 15)) == 0


def test_key_from_labels_per_scope_and_rejects_unknown():
    q = promql.Query(Signal.P99, Scope.POD, "")
    labels = {"destination_service_name": "cart", "destination_service_namespace": "default", "pod": "cart-1"}
    assert key_from_labels(q, labels) == SeriesKey("cart", "default", Signal.P99, Scope.POD, pod="cart-1")
    assert key_from_labels(q, {**labels, "pod": ""}) is None
    assert key_from_labels(q, {**labels, "destination_service_name": "unknown"}) is None


def test_place_puts_points_on_the_grid_and_nan_for_inf():
    q = promql.Query(Signal.RATE, Scope.SERVICE, "")
    ts = grid(100, 160, 15)
    rows: dict = {}
    result = [
        {
            "metric": {"destination_service_name": "a", "destination_service_namespace": "n"},
            "values": [[115, "2.5"], [145, "+Inf"], [999, "1"]],
        }
    ]
    place(result, q, ts, rows)
    (row,) = rows.values()
    np.testing.assert_array_equal(np.isnan(row), [True, False, True, True, True])
    assert row[1] == 2.5


def test_unreachable_prometheus_is_a_scrape_error():
    src = PrometheusSource("http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(ScrapeError, match="unreachable"):
        src.fetch(0, 30, 15)


def test_histogram_results_become_quantile_series():
    from detector.scrape.source import add_quantiles, collect_buckets

    q = promql.Query(None, Scope.SERVICE, "")
    ts = grid(0, 15, 15)
    labels = {"destination_service_name": "a", "destination_service_namespace": "n"}
    result = [
        {"metric": {**labels, "le": le}, "values": [[0, c], [15, c]]}
        for le, c in (("10", "5"), ("20", "10"), ("+Inf", "10"))
    ]
    hist: dict = {}
    collect_buckets(result, q, ts, hist)
    rows: dict = {}
    add_quantiles(hist, rows)
    assert rows[SeriesKey("a", "n", Signal.P50)].tolist() == [10.0, 10.0]
    assert rows[SeriesKey("a", "n", Signal.P90)].tolist() == [18.0, 18.0]
