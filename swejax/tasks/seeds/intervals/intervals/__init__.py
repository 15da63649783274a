"""Interval sets and calendar arithmetic."""

from intervals.interval import Interval, IntervalSet

__all__ = ["Interval", "IntervalSet"]
__version__ = "0.9.2"
