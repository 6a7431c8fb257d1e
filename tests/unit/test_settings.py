import pytest
from pydantic import ValidationError

from detector.settings import load_settings


def test_yaml_file_then_environment_wins(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("prometheus_url: http://file:9090\nscrape_interval_s: 30\nservices: [cart, web]\n")
    monkeypatch.setenv("MESHPULSE_SCRAPE_INTERVAL_S", "5")
    s = load_settings(cfg)
    assert s.prometheus_url == "http://file:9090"
    assert s.scrape_interval_s == 5
    assert s.services == ["cart", "web"]


def test_unknown_setting_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scrape_intervall_s: 30\n")
    with pytest.raises(ValidationError):
        load_settings(cfg)


def test_non_mapping_file_is_a_clear_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping"):
        load_settings(cfg)


def test_a_shard_lease_must_outlast_a_cycle():
    """A shard renews once a cycle, so a lease no longer than the interval would expire while it works."""
    with pytest.raises(ValidationError, match=r"lease_s \(30\) must exceed scrape_interval_s \(30\)"):
        load_settings(shard_id="meshpulse-0", scrape_interval_s=30, lease_s=30)
    assert load_settings(shard_id="meshpulse-0", scrape_interval_s=15, lease_s=30).lease_s == 30
    assert load_settings(scrape_interval_s=60, lease_s=30).lease_s == 30  # unsharded: no lease to keep


def test_recorded_histograms_need_the_rules_rate_window():
    with pytest.raises(ValidationError, match="recorded_histograms needs rate_window 1m"):
        load_settings(recorded_histograms=True, rate_window="30s")
    assert load_settings(recorded_histograms=True).recorded_histograms
