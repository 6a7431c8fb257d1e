"""One Settings class: environment (``MESHPULSE_*``) over an optional YAML file over defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set. Environment wins over the YAML file.

    >>> Settings(scrape_interval_s=15).scrape_interval_s
    15.0
    """

    model_config = SettingsConfigDict(env_prefix="MESHPULSE_", extra="forbid")

    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = ""
    """Empty disables alert delivery (events are still recorded)."""
    scrape_interval_s: float = Field(15.0, gt=0)
    lookback_s: float = Field(6 * 3600.0, gt=0)
    """How much history the first cycle pulls to warm the detectors."""
    query_lag_s: float = Field(2.0, ge=0)
    """Each cycle stops this far behind now, so its newest point's scrape has landed in Prometheus."""
    query_timeout_s: float = Field(10.0, gt=0)
    namespaces: list[str] = Field(default_factory=list)
    """Only these destination namespaces; empty means all."""
    services: list[str] = Field(default_factory=list)
    """Only these destination services; empty means all."""
    rate_window: str = "1m"
    """The ``rate()`` window. Must cover at least 2 Prometheus scrapes of the mesh."""
    recorded_histograms: bool = False
    """Read the latency histograms from the recording rules in ``deploy/prometheus/meshpulse-rules.yml``
    (about a fifth of the samples per cycle) instead of summing raw buckets; needs ``rate_window: 1m``."""
    state_path: Path = Path("var/meshpulse.sqlite")
    """The SQLite state file, when ``state_url`` is not set (shorthand for ``sqlite:///<state_path>``)."""
    state_url: SecretStr | None = None
    """The state store: ``sqlite:///PATH`` or ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (shared by
    replicas). Secret: never logged or shown with its password. Unset means ``state_path``."""
    alert_resend_s: float = Field(60.0, gt=0)
    """Active alerts are re-sent this often; keep well under Alertmanager's ``resolve_timeout`` (5 m)."""
    series_stale_s: float = Field(600.0, gt=0)
    """A series with no data for this long is forgotten (pods that went away)."""
    dashboard_url: str = ""
    """Public base URL of this service, for links in alerts."""
    run_scheduler: bool = True
    max_body_bytes: int = Field(1 << 20, gt=0)
    """Largest accepted request body (JSON); bigger ones get 413."""
    max_series: int = Field(20_000, gt=0)
    """Series scored per cycle at most; the least important are dropped (``meshpulse_series_dropped``)."""
    detector_model: Path | None = None
    """A detection model file (see ``models/``); none means the built-in defaults."""
    decide_mode: Literal["off", "dry-run", "approval", "auto"] = "dry-run"
    """What recommendations may do: nothing, log what they would do, wait for a person, or act."""
    decide_window_s: float = Field(300.0, gt=0)
    """The span each decision's request and error counts cover."""
    decide_max_step: int = Field(20, ge=1, le=100)
    decide_floor: int = Field(10, ge=0, le=100)
    """Weight no subset is shifted below (per-subset overrides in ``decide_floors``)."""
    decide_floors: dict[str, int] = Field(default_factory=dict)
    decide_cooldown_s: float = Field(300.0, ge=0)
    decide_open_after: int = Field(3, ge=1)
    decide_close_after: int = Field(5, ge=1)
    applier: Literal["none", "http", "kubernetes", "gitops"] = "none"
    """Where approved actions go."""
    hook_url: str = ""
    hook_secret_file: Path | None = None
    """HMAC key of the HTTP hook, read from a file so it never sits in the environment or logs."""
    gitops_dir: Path = Path("var/gitops")
    api_tokens: list[SecretStr] = Field(default_factory=list)
    """Bearer tokens allowed to change things (approve, reject, apply); prefer ``api_token_file``."""
    api_token_file: Path | None = None
    """A file with one bearer token per line."""
    protect_reads: bool = False
    """Require a token for read-only endpoints too."""
    shard_id: str = ""
    """This replica's shard id (the pod name in a StatefulSet); empty runs unsharded, owning everything."""
    lease_s: float = Field(30.0, gt=0)
    """Shard lease length; must exceed ``scrape_interval_s`` and the longest cycle. A shard that stops
    renewing is dead, and its services taken over, within two lease periods (and a cycle)."""

    @model_validator(mode="after")
    def _recorded_window_matches(self) -> Settings:
        # the rules record one rate window; reading them under another name would mislabel it
        if self.recorded_histograms and self.rate_window != "1m":
            raise ValueError(
                f"recorded_histograms needs rate_window 1m (the rules' window), not {self.rate_window}"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_cycle(self) -> Settings:
        # a shard renews once a cycle: a lease shorter than the interval would see live shards die
        if self.shard_id and self.scrape_interval_s >= self.lease_s:
            raise ValueError(
                f"lease_s ({self.lease_s:g}) must exceed scrape_interval_s ({self.scrape_interval_s:g}):"
                " a shard renews its lease once a cycle; keep lease_s above the longest cycle too"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Read the YAML file (if any) and let the environment and ``overrides`` win over it."""
    from_file: dict[str, Any] = {}
    if config is not None:
        loaded = yaml.safe_load(config.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config}: expected a mapping of setting names to values")
        from_file = loaded
    env = Settings()
    explicit_env = {name: getattr(env, name) for name in env.model_fields_set}
    return Settings(**{**from_file, **explicit_env, **overrides})
