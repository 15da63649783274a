"""Structural algorithms: ordering, components, spanning trees, colouring."""

from collections import deque


class CycleError(ValueError):
    pass


def topological_sort(graph):
    """Kahn's algorithm; ties broken by node insertion order."""
    if not graph.directed:
        raise ValueError("topological order needs a directed graph")
    indegree = {node: 0 for node in graph.nodes}
    for _, v, _ in graph.edges():
        indegree[v] += 1
    ready = deque(node for node in graph.nodes if indegree[node] == 0)
    order = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for neighbor in graph.neighbors(node):
            indegree[neighbor] -= 1
            if indegree[neighbor] == 0:
                ready.append(neighbor)
    if len(order) != len(graph.nodes):
        raise CycleError("graph has a cycle")
    return order


def connected_components(graph):
    """Components of an undirected graph as sorted lists, largest first."""
    seen = set()
    components = []
    for start in graph.nodes:
        if start in seen:
            continue
        component = []
        queue = deque([start])
        seen.add(start)
        while queue:
            node = queue.popleft()
            component.append(node)
            for neighbor in graph.neighbors(node):
                if neighbor not in seen:
                    seen.add(neighbor)
                    queue.append(neighbor)
        components.append(sorted(component))
    components.sort(key=lambda c: (-len(c), c))
    return components


class UnionFind:
    def __init__(self, items=()):
        self.parent = {item: item for item in items}
        self.size = {item: 1 for item in items}

    def find(self, item):
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a, b):
        """Join the sets of a and b; False if they were already joined."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        if self.size[root_a] < self.size[root_b]:
            root_a, root_b = root_b, root_a
        self.parent[root_b] = root_a
        self.size[root_a] += self.size[root_b]
        return True


def minimum_spanning_tree(graph):
    """Kruskal's algorithm: (total weight, sorted edges (u, v, w) with u <= v)."""
    forest = UnionFind(graph.nodes)
    total = 0
    chosen = []
    for u, v, weight in sorted(graph.edges(), key=lambda e: (e[2], min(e[0], e[1]))):
        if forest.union(u, v):
            total += weight
            chosen.append((min(u, v), max(u, v), weight))
    return total, sorted(chosen)


def two_coloring(graph):
    """{node: 0 or 1} with no edge inside a colour, or None if not bipartite."""
    color = {}
    for start in graph.nodes:
        if start in color:
            continue
        color[start] = 0
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for neighbor in graph.neighbors(node):
                if neighbor not in color:
                    color[neighbor] = 1 - color[node]
                    queue.append(neighbor)
                elif color[neighbor] == color[node]:
                    return None
    return color


def is_bipartite(graph):
    return two_coloring(graph) is not None


def has_cycle(graph):
    """Cycle detection for directed (colouring DFS) and undirected graphs."""
    if not graph.directed:
        forest = UnionFind(graph.nodes)
        for u, v, _ in graph.edges():
            if not forest.union(u, v):
                return True
        return False
    state = {node: 0 for node in graph.nodes}

    def visit(node):
        state[node] = 1
        for neighbor in graph.neighbors(node):
            if state[neighbor] == 1:
                return True
            if state[neighbor] == 0 and visit(neighbor):
                return True
        state[node] = 2
        return False

    return any(state[node] == 0 and visit(node) for node in graph.nodes)
