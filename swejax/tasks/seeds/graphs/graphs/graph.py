"""A weighted graph stored as adjacency maps."""


class Graph:
    """Directed or undirected graph; edge weights default to 1."""

    def __init__(self, directed=False):
        self.directed = directed
        self._adj = {}

    def add_node(self, node):
        self._adj.setdefault(node, {})

    def add_edge(self, u, v, weight=1):
        self.add_node(u)
        self.add_node(v)
        self._adj[u][v] = weight
        if not self.directed:
            self._adj[v][u] = weight

    def remove_edge(self, u, v):
        if v not in self._adj.get(u, {}):
            raise KeyError(f"no edge {u!r} -> {v!r}")
        del self._adj[u][v]
        if not self.directed:
            del self._adj[v][u]

    def has_edge(self, u, v):
        return v in self._adj.get(u, {})

    def weight(self, u, v):
        return self._adj[u][v]

    @property
    def nodes(self):
        return list(self._adj)

    def neighbors(self, node):
        """Neighbours of `node` in insertion order."""
        return list(self._adj[node])

    def edges(self):
        """(u, v, weight) triples; each undirected edge once."""
        seen = set()
        result = []
        for u, targets in self._adj.items():
            for v, weight in targets.items():
                if not self.directed:
                    key = frozenset((u, v))
                    if key in seen:
                        continue
                    seen.add(key)
                result.append((u, v, weight))
        return result

    def degree(self, node):
        """Out-degree for directed graphs; a self-loop counts twice when undirected."""
        targets = self._adj[node]
        loops = 1 if node in targets and not self.directed else 0
        return len(targets) + loops

    def in_degree(self, node):
        return sum(1 for targets in self._adj.values() if node in targets)

    def reverse(self):
        """A copy with every edge reversed (a plain copy when undirected)."""
        result = Graph(self.directed)
        for node in self._adj:
            result.add_node(node)
        for u, v, weight in self.edges():
            if self.directed:
                result.add_edge(v, u, weight)
            else:
                result.add_edge(u, v, weight)
        return result

    @classmethod
    def from_edges(cls, edges, directed=False):
        graph = cls(directed)
        for edge in edges:
            graph.add_edge(*edge)
        return graph
