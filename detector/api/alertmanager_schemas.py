"""Alertmanager's webhook payload (``version: "4"``), validated before anything is recorded.

Field names follow Alertmanager's JSON (camelCase) through aliases, so a payload
echoes back as it came. ``endsAt`` of a firing alert is Go's zero time
(``0001-01-01T00:00:00Z``); :meth:`WebhookAlert.ends_ts` reads that as "not ended".
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["firing", "resolved"]


class _Camel(BaseModel):
    # strict: a payload whose types are off is not Alertmanager's (times are checked below)
    model_config = ConfigDict(populate_by_name=True, strict=True)


class WebhookAlert(_Camel):
    status: Status
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt", strict=False)
    ends_at: datetime | None = Field(None, alias="endsAt", strict=False)

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _rfc3339_text(cls, v: object) -> object:
        """Alertmanager sends RFC 3339 strings; a number here is a malformed payload, not a time."""
        if v is not None and not isinstance(v, str | datetime):
            raise ValueError("must be an RFC 3339 time string")
        return v

    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = ""

    def starts_ts(self) -> float:
        return self.starts_at.timestamp()

    def ends_ts(self) -> float | None:
        return None if self.ends_at is None or self.ends_at.year <= 1 else self.ends_at.timestamp()


class AlertmanagerWebhook(_Camel):
    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(0, alias="truncatedAlerts", ge=0, strict=False)

    @field_validator("truncated_alerts", mode="before")
    @classmethod
    def _whole_number(cls, v: object) -> object:
        """JSON's integers may arrive as 3.0; text or booleans are not counts."""
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError("must be a whole number")
        return v

    status: Status
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field("", alias="externalURL")
    alerts: list[WebhookAlert] = Field(min_length=1)
