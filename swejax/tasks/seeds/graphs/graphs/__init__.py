"""Graph algorithms on an adjacency-map graph."""

from graphs.graph import Graph

__all__ = ["Graph"]
__version__ = "1.2.0"
