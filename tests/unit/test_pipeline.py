import numpy as np
import pytest
from fakes import Clock, FakeMesh, RecordingNotifier

from detector.pipeline import Pipeline
from detector.series import SeriesKey, Signal
from detector.settings import Settings
from detector.store.sqlite import StateStore

STEP = 15.0
T0 = 1_800_000_000.0


@pytest.fixture
def parts(tmp_path):
    settings = Settings(scrape_interval_s=STEP, lookback_s=3600, state_path=tmp_path / "s.sqlite")
    mesh, notifier, clock = FakeMesh(), RecordingNotifier(), Clock(T0)

    def make() -> Pipeline:
        return Pipeline(
            settings, source=mesh, store=StateStore(settings.state_path), notifier=notifier, clock=clock
        )

    return make, mesh, notifier, clock


def run(pipeline, clock, cycles):
    for _ in range(cycles):
        clock.t += STEP
        pipeline.run_cycle()


def test_first_cycle_warms_from_lookback_then_fetches_only_new_points(parts):
    make, mesh, _, clock = parts
    p = make()
    run(p, clock, 3)
    (s0, e0), (s1, e1), (s2, _) = mesh.calls
    assert e0 - s0 == pytest.approx(3600)
    assert s1 == e0 + STEP and s2 == e1 + STEP
    assert p.status.ok and p.tracker.active() == []


def test_error_burst_opens_alerts_and_resolves(parts):
    make, mesh, notifier, clock = parts
    p = make()
    run(p, clock, 2)
    mesh.faults["cart"] = (clock.t, clock.t + 10 * STEP, Signal.ERROR_RATIO, 0.3)
    run(p, clock, 3)
    active = p.tracker.active()
    assert [(e.key.service, e.key.signal) for e in active] == [("cart", Signal.ERROR_RATIO)]
    firing = [a for a in notifier.sent if not a.resolved]
    assert firing and firing[0].labels["service"] == "cart" and firing[0].labels["signal"] == "error_ratio"
    assert p.store.events(active=True)[0]["service"] == "cart"
    run(p, clock, 15)
    assert p.tracker.active() == []
    assert any(a.resolved and a.labels["service"] == "cart" for a in notifier.sent)
    assert p.store.events(active=False, service="cart")


def test_source_down_fails_the_cycle_without_anomalies_and_catches_up(parts):
    make, mesh, _, clock = parts
    p = make()
    run(p, clock, 2)
    last_end = p.last_end
    mesh.down = True
    run(p, clock, 3)
    assert not p.status.ok and "unreachable" in p.status.error
    assert p.last_end == last_end and p.tracker.active() == []
    mesh.down = False
    run(p, clock, 1)
    assert p.status.ok and mesh.calls[-1][0] == last_end + STEP
    assert p.tracker.active() == []


def test_restart_resumes_detector_state_and_open_events(parts):
    make, mesh, _, clock = parts
    p = make()
    run(p, clock, 2)
    mesh.faults["web"] = (clock.t, clock.t + 100 * STEP, Signal.P99, 900.0)
    run(p, clock, 3)
    assert p.tracker.active()
    p.store.close()
    again = make()
    assert again.last_end == p.last_end
    assert [e.id for e in again.tracker.active()] == [e.id for e in p.tracker.active()]
    assert again.bank.export_state() == p.bank.export_state()


def test_failed_alert_delivery_is_retried_next_cycle(parts):
    make, mesh, notifier, clock = parts
    p = make()
    run(p, clock, 2)
    notifier.fail = True
    mesh.faults["pay"] = (clock.t, clock.t + 100 * STEP, Signal.P50, 500.0)
    run(p, clock, 3)
    assert notifier.sent == [] and p.dispatcher.pending_count() > 0
    notifier.fail = False
    run(p, clock, 1)
    assert any(a.labels["service"] == "pay" for a in notifier.sent)


def test_new_services_appear_and_vanished_ones_age_out(parts, tmp_path):
    make, mesh, _, clock = parts
    p = make()
    run(p, clock, 2)
    mesh.services.append("newcomer")
    run(p, clock, 1)
    assert {k.service for k in p.recent.series()} == {"cart", "web", "pay", "newcomer"}
    mesh.services.remove("web")
    run(p, clock, int(p.settings.series_stale_s / STEP) + 2)
    assert "web" not in {k.service for k in p.recent.series()}
    assert all(k.service != "web" for k in p.bank.keys)


def test_points_within_a_rate_window_of_an_outage_are_not_scored(parts):
    make, mesh, _, clock = parts
    p = make()
    run(p, clock, 2)
    before = p.last_end
    mesh.down = True
    run(p, clock, 2)
    mesh.down = False
    run(p, clock, 1)
    view = p.recent.view(SeriesKey("cart", "default", Signal.RATE))
    after = view.timestamps > before
    assert np.isnan(view.score[after]).all() and np.isfinite(view.values[after]).all()
    run(p, clock, 6)
    assert np.isfinite(p.recent.view(SeriesKey("cart", "default", Signal.RATE)).score[-1])


def test_series_cap_is_logged_when_it_starts_and_stops_and_metered_every_cycle(tmp_path, caplog):
    settings = Settings(
        scrape_interval_s=STEP, lookback_s=3600, state_path=tmp_path / "s.sqlite", max_series=6
    )
    mesh, clock = FakeMesh(), Clock(T0)
    p = Pipeline(
        settings,
        source=mesh,
        store=StateStore(settings.state_path),
        notifier=RecordingNotifier(),
        clock=clock,
    )
    with caplog.at_level("INFO", logger="detector.pipeline"):
        run(p, clock, 3)
    assert [r.levelname for r in caplog.records if "series cap" in r.message] == ["WARNING"]
    assert p.telemetry.series_dropped._value.get() > 0 and len(p.bank) <= 6
    caplog.clear()
    p.settings = settings.model_copy(update={"max_series": 1000})
    with caplog.at_level("INFO", logger="detector.pipeline"):
        run(p, clock, 2)
    assert [r.levelname for r in caplog.records if "series cap" in r.message] == ["INFO"]
    assert p.telemetry.series_dropped._value.get() == 0
