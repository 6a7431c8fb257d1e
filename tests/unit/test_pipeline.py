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
    run(again, clock, 1)  # scored from its first cycle on: the restart is no gap in Prometheus
    assert [e.last_seen for e in again.tracker.active()] == [again.last_end]


def test_an_event_is_stored_before_it_is_paged(parts):
    """A process killed right after paging must leave the event it paged to its restart or heir."""
    make, mesh, notifier, clock = parts
    p = make()
    stored_when_paged: list[set[str]] = []
    send = notifier.send

    def send_and_look(alerts: list) -> None:
        stored_when_paged.append({e["id"] for e in StateStore(p.settings.state_path).events(active=True)})
        send(alerts)

    notifier.send = send_and_look
    run(p, clock, 2)
    mesh.faults["cart"] = (clock.t, clock.t + 10 * STEP, Signal.ERROR_RATIO, 0.3)
    run(p, clock, 3)
    (event,) = p.tracker.active()
    assert stored_when_paged and all(event.id in ids for ids in stored_when_paged)
    saved = StateStore(p.settings.state_path).state("pipeline")["tracker"]
    assert saved[event.key.id]["event"]["id"] == event.id


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


def test_a_dead_shards_open_event_goes_on_at_its_new_owner_and_closes_there(tmp_path, connect):
    """Takeover adopts the victim's state: same event, same ``startsAt``, closed once, never paged twice.

    On both store dialects, each shard on its own connection, as replicas are."""
    from detector.shard.filter import OwnedSource
    from detector.shard.leases import Leases

    mesh, clock = FakeMesh(), Clock(T0)
    notifiers = {s: RecordingNotifier() for s in "ab"}

    def shard(shard_id: str) -> Pipeline:
        settings = Settings(
            scrape_interval_s=STEP,
            lookback_s=3600,
            state_path=tmp_path / "s.sqlite",
            shard_id=shard_id,
            lease_s=30,
        )
        store = connect()
        source = OwnedSource(mesh, Leases(store, shard_id, settings.lease_s, clock=clock))
        return Pipeline(settings, source=source, store=store, notifier=notifiers[shard_id], clock=clock)

    a, b = shard("a"), shard("b")  # rendezvous over {a, b}: b owns cart and web, a owns pay

    def cycle(*shards: Pipeline) -> None:
        clock.t += STEP
        for p in shards:
            p.run_cycle()

    for _ in range(3):
        cycle(a, b)
    mesh.faults["cart"] = (clock.t, clock.t + 12 * STEP, Signal.ERROR_RATIO, 0.3)
    for _ in range(3):
        cycle(a, b)
    (event,) = b.tracker.active()
    paged = [x for x in notifiers["b"].sent if x.labels["service"] == "cart"]
    assert paged and not notifiers["a"].sent
    for _ in range(4):  # b is gone (SIGKILL): dead two lease periods (60 s) after its last renewal
        cycle(a)
    assert not a.tracker.active() and "b" in a.source.ownership.membership.live
    cycle(a)  # 75 s: a sees b dead and takes cart over, open event and all
    assert [e.id for e in a.tracker.active()] == [event.id]
    # ... and scores it at once: Prometheus kept cart's samples, so no new series' window to wait out
    assert a.tracker.active()[0].last_seen == a.last_end
    for _ in range(15):
        cycle(a)
    sent = [x for x in notifiers["a"].sent if x.labels["service"] == "cart"]
    assert {x.starts_at for x in paged + sent} == {event.started_at}, "a second incident was paged"
    assert sent[-1].resolved and not any(x.resolved for x in sent[:-1])
    stored = a.store.events(service="cart")
    assert [(e["id"], e["ended_at"] is not None) for e in stored] == [(event.id, True)]
    left = a.store.state("pipeline/b")  # a restarted b could not revive what a took over
    assert not [k for k in left["tracker"] if "cart" in k] and not left["dispatcher"]["sent"]
    assert a.decide_state.circuit_at.keys() >= b.decide_state.circuit_at.keys()


def test_a_shard_that_loses_services_to_a_joiner_lets_them_go_quietly(tmp_path):
    """Scale-out: ``a`` watched everything and paged an incident on cart; ``b`` joins and owns cart.
    From then on only ``b`` pages cart: ``a`` neither resolves nor re-sends it, forgets cart's
    state (so a later restart cannot revive it) and stores its event as ended, not open for ever."""
    from detector.shard.filter import OwnedSource
    from detector.shard.leases import Leases

    mesh, clock = FakeMesh(), Clock(T0)
    notifiers = {s: RecordingNotifier() for s in "ab"}

    def shard(shard_id: str) -> Pipeline:
        settings = Settings(
            scrape_interval_s=STEP, lookback_s=3600, state_path=tmp_path / "s.sqlite", shard_id=shard_id
        )
        store = StateStore(settings.state_path)
        source = OwnedSource(mesh, Leases(store, shard_id, settings.lease_s, clock=clock))
        return Pipeline(settings, source=source, store=store, notifier=notifiers[shard_id], clock=clock)

    def cycle(*shards: Pipeline) -> None:
        clock.t += STEP
        for p in shards:
            p.run_cycle()

    a = shard("a")
    for _ in range(3):
        cycle(a)
    mesh.faults["cart"] = (clock.t, clock.t + 20 * STEP, Signal.ERROR_RATIO, 0.3)
    for _ in range(3):
        cycle(a)
    (event,) = [e for e in a.tracker.active() if e.key.service == "cart" and e.key.scope.value == "service"]
    b = shard("b")
    cycle(a, b)  # b warms up from history and pages cart; a has not seen b's lease yet
    paged_by_a = len(notifiers["a"].sent)
    cycle(a, b)  # a sees b: cart (and web) are b's now
    assert not [e for e in a.tracker.active() if e.key.service in ("cart", "web")]
    assert all(k.service not in ("cart", "web") for k in a.bank.keys)
    for _ in range(4):
        cycle(a, b)
    from_a = [x for x in notifiers["a"].sent[paged_by_a:] if x.labels["service"] == "cart"]
    assert from_a == [], "a still pages a service it no longer owns"
    assert not any(x.resolved for x in notifiers["a"].sent if x.labels["service"] == "cart")
    assert any(not x.resolved and x.labels["service"] == "cart" for x in notifiers["b"].sent)
    # b rebuilt the incident from the same history: same series, same first point, same event id
    assert event.id in {e.id for e in b.tracker.active()}
    still_open = {e["id"] for e in a.store.events(service="cart") if e["ended_at"] is None}
    assert still_open == {e.id for e in b.tracker.active() if e.key.service == "cart"}, (
        "a's events stayed open"
    )
    left = a.store.state("pipeline/a")
    assert not [k for k in left["tracker"] if "/cart/" in k] and not [
        k for k in left["bank"] if "/cart/" in k
    ]


def test_a_detection_model_is_used_even_though_its_fresh_bank_is_empty(tmp_path):
    """``detector_model`` builds an empty bank; empty must not read as "none given"."""
    from detector.api.app import build_pipeline

    model = tmp_path / "model.yaml"
    model.write_text("detector:\n  grace: 7\nevents:\n  open_after: 4\n")
    settings = Settings(state_path=tmp_path / "s.sqlite", detector_model=model)
    p = build_pipeline(settings, source=FakeMesh(), notifier=RecordingNotifier())
    assert p.bank.detector.grace == 7 and p.tracker.open_after == 4
