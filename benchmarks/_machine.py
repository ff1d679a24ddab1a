"""The line every benchmark prints first: machine, Python, date (UTC) and load average, so that a
figure can be read against the conditions it was measured under."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime


def machine() -> str:
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
            f"{platform.processor() or platform.system()}, Python {platform.python_version()}, "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load}")
