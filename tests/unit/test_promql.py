import json
import re
from urllib.parse import quote_plus

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


# shard-aware matchers ---------------------------------------------------------------------------
TRICKY = ["a.b", "a-b", "c+d", "(e)", "f|g", "h*", "[i]", "{j}", "^k$", "l?", "back\\slash", 'quo"te', "x"]


def _unquote(promql_string: str) -> str:
    """Decode the inside of a PromQL double-quoted string (Go escapes, as JSON's for these)."""
    return json.loads(f'"{promql_string}"')


def _regexes(matcher: str) -> tuple[str, str]:
    m = re.fullmatch(
        r'destination_service_namespace=~"((?:[^"\\]|\\.)*)",destination_service_name=~"((?:[^"\\]|\\.)*)"',
        matcher,
    )
    assert m, matcher
    return _unquote(m[1]), _unquote(m[2])


@pytest.mark.parametrize("value", TRICKY)
def test_escaped_regex_matches_exactly_the_literal(value: str) -> None:
    pattern = promql.escape_regex(value)
    assert re.fullmatch(pattern, value)
    assert not re.fullmatch(pattern, value + "x") and not re.fullmatch(pattern, "z" + value[1:])


def test_escape_regex_escapes_only_what_go_quotemeta_does() -> None:
    # Prometheus's set-lookup optimisation gives up on escapes of non-metacharacters such as "\-"
    assert promql.escape_regex("svc-0001_x/y") == "svc-0001_x/y"
    assert promql.escape_regex(r"\.+*?()|[]{}^$") == "".join("\\" + c for c in r"\.+*?()|[]{}^$")


@pytest.mark.parametrize("value", [*TRICKY, "new\nline"])
def test_quote_round_trips_through_a_promql_string(value: str) -> None:
    assert _unquote(promql.quote(value)) == value


def test_owned_matchers_match_exactly_the_asked_names() -> None:
    ids = [("shop", v) for v in TRICKY]
    (matcher,) = promql.owned_matchers(ids)
    ns_re, name_re = _regexes(matcher)
    assert ns_re == "shop"
    assert {v for v in TRICKY if re.fullmatch(name_re, v)} == set(TRICKY)
    # the unescaped dot of "a.b" would also have matched "axb"; "f|g" must not match "f" or "g"
    assert not any(re.fullmatch(name_re, v) for v in ("axb", "f", "g", "ee", "c++d", "i", "j", "k"))


@pytest.mark.parametrize("max_bytes", [200, 1000, promql.MAX_MATCHER_BYTES])
def test_owned_matchers_chunks_stay_under_the_budget_and_cover_each_pair_once(max_bytes: int) -> None:
    ids = [(f"ns-{i % 5}", f"service-{i:05d}{TRICKY[i % len(TRICKY)]}") for i in range(600)]
    chunks = promql.owned_matchers(ids, max_bytes)
    assert len(chunks) > 1
    assert all(len(quote_plus(c)) <= max_bytes for c in chunks)
    hits: list[tuple[str, str]] = []
    for chunk in chunks:
        ns_re, name_re = _regexes(chunk)
        hits += [(ns, n) for ns, n in ids if re.fullmatch(ns_re, ns) and re.fullmatch(name_re, n)]
    assert sorted(hits) == sorted(ids)


def test_a_name_over_the_budget_gets_a_chunk_of_its_own() -> None:
    chunks = promql.owned_matchers([("n", "x" * 500), ("n", "a"), ("n", "b")], max_bytes=100)
    assert len(chunks) == 2 and "x" * 500 in chunks[1]


def test_owned_queries_fit_an_8_kib_url_and_cover_every_scope() -> None:
    ids = [("shop", f"svc-{i:04d}") for i in range(2000)]
    queries = list(promql.owned_queries("1m", ids))
    chunks = promql.owned_matchers(ids)
    assert len(queries) == 3 * len(Scope) * len(chunks)
    assert max(len(quote_plus(q.expr)) for q in queries) < 8192 - 200  # the rest of the URL
    assert {(q.signal, q.scope) for q in queries} == {(q.signal, q.scope) for q in promql.cycle_queries("1m")}


def test_inventory_groups_by_service_across_reporters() -> None:
    expr = promql.inventory(namespaces=["a.b"])
    assert expr.startswith("group by (destination_service_namespace, destination_service_name)")
    assert "reporter" not in expr and 'destination_service_namespace=~"a\\\\.b"' in expr


def test_recorded_histograms_read_the_rules_with_the_same_matchers() -> None:
    plain = {(q.signal, q.scope): q.expr for q in promql.cycle_queries("1m", services=["cart"])}
    recorded = {
        (q.signal, q.scope): q.expr for q in promql.cycle_queries("1m", services=["cart"], recorded=True)
    }
    for scope in Scope:
        assert recorded[(None, scope)] == f'{promql.recorded_name(scope)}{{destination_service_name=~"cart"}}'
        assert recorded[(Signal.RATE, scope)] == plain[(Signal.RATE, scope)]
    (chunk,) = promql.owned_matchers([("shop", "a.b")])
    owned = [q.expr for q in promql.owned_queries("1m", [("shop", "a.b")], recorded=True) if q.signal is None]
    assert owned == [f"{promql.recorded_name(scope)}{{{chunk}}}" for scope in Scope]


def test_recorded_histograms_need_the_rules_rate_window() -> None:
    with pytest.raises(ValueError, match="1m"):
        PrometheusSource("http://127.0.0.1:9", window="2m", recorded=True)
