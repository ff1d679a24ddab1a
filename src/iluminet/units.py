"""Time and unit constants used across the package, each defined once.

The month is the Julian-year month (365.25 / 12 days), the convention of the trial's survival and
response times (Sundlöv et al. 2022 report medians in months; ``docs/references.md``).
"""

from __future__ import annotations

__all__ = ["DAYS_PER_MONTH", "DAYS_PER_YEAR", "HOURS_PER_DAY", "SECONDS_PER_HOUR"]

#: Days of a Julian year.
DAYS_PER_YEAR: float = 365.25
#: Days of a month (a twelfth of a Julian year), used for every time in months.
DAYS_PER_MONTH: float = DAYS_PER_YEAR / 12.0
#: Hours of a day.
HOURS_PER_DAY: float = 24.0
#: Seconds of an hour.
SECONDS_PER_HOUR: float = 3600.0
