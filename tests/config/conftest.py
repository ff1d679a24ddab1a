"""Fixtures of the configuration tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture()
def no_hang() -> Iterator[None]:
    """Turn a hang (an unbounded loop) into a test failure instead of a stuck suite. The limit is
    far above the microseconds a closed-form computation takes, so load cannot trip it."""
    def fail(signum: int, frame: object) -> None:
        raise AssertionError("did not return within 120 s: unbounded loop")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(120)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
