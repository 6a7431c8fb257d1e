"""Reading live weights: an unreachable API leaves a route unknown, never fails the cycle."""

from __future__ import annotations

import logging

import pytest

from detector.act.base import NullApplier, read_all


class Reader:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def read_weights(self, namespace: str, service: str) -> dict[str, int] | None:
        self.calls.append(service)
        if service == "down":
            raise ConnectionError("connection refused")
        return {"v1": 50, "v2": 50} if service == "cart" else None


def test_a_failed_read_stops_reading_leaves_the_rest_unknown_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = Reader()
    with caplog.at_level(logging.WARNING, logger="detector.act.base"):
        out = read_all(reader, ["default/cart", "default/down", "default/cart2", "default/web"])
    assert out == {"default/cart": {"v1": 50, "v2": 50}}
    assert reader.calls == ["cart", "down"]  # a down API is asked once per cycle, not once per route
    assert (
        "(ConnectionError: connection refused); no traffic decision this cycle for 3 route(s)" in caplog.text
    )


def test_appliers_without_a_reader_know_no_weights() -> None:
    assert read_all(object(), ["default/cart"]) == {}
    assert read_all(NullApplier(), ["default/cart"]) == {}
