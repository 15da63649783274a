"""Traversals and shortest paths."""

import heapq
from collections import deque


def bfs_order(graph, start):
    """Nodes in breadth-first order from `start`."""
    seen = {start}
    order = []
    queue = deque([start])
    while queue:
        node = queue.popleft()
        order.append(node)
        for neighbor in graph.neighbors(node):
            if neighbor not in seen:
                seen.add(neighbor)
                queue.append(neighbor)
    return order


def dfs_order(graph, start):
    """Nodes in depth-first preorder from `start` (neighbours in insertion order)."""
    seen = set()
    order = []
    stack = [start]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        order.append(node)
        for neighbor in reversed(graph.neighbors(node)):
            if neighbor not in seen:
                stack.append(neighbor)
    return order


def hops(graph, start):
    """Number of edges on a shortest unweighted path to every reachable node."""
    distance = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for neighbor in graph.neighbors(node):
            if neighbor not in distance:
                distance[neighbor] = distance[node] + 1
                queue.append(neighbor)
    return distance


def dijkstra(graph, source):
    """(distances, predecessors) of the shortest weighted paths from `source`."""
    distance = {source: 0}
    previous = {}
    heap = [(0, 0, source)]
    counter = 1
    done = set()
    while heap:
        cost, _, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        for neighbor in graph.neighbors(node):
            weight = graph.weight(node, neighbor)
            if weight < 0:
                raise ValueError("negative edge weight")
            candidate = cost + weight
            if neighbor not in distance or candidate < distance[neighbor]:
                distance[neighbor] = candidate
                previous[neighbor] = node
                heapq.heappush(heap, (candidate, counter, neighbor))
                counter += 1
    return distance, previous


def shortest_path(graph, source, target):
    """(cost, [source, ..., target]) or None when unreachable."""
    distance, previous = dijkstra(graph, source)
    if target not in distance:
        return None
    path = [target]
    while path[-1] != source:
        path.append(previous[path[-1]])
    path.reverse()
    return distance[target], path


def has_path(graph, source, target):
    return target in hops(graph, source)
