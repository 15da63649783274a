"""Unit conversion, quantity parsing and formatting."""

from units.convert import convert

__all__ = ["convert"]
__version__ = "3.0.4"
