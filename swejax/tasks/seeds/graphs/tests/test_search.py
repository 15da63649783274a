from graphs import Graph
from graphs.search import bfs_order, dfs_order, dijkstra, has_path, hops, shortest_path


def tree():
    return Graph.from_edges([(1, 2), (1, 3), (2, 4), (2, 5), (3, 6)])


def test_bfs_order():
    assert bfs_order(tree(), 1) == [1, 2, 3, 4, 5, 6]


def test_dfs_order():
    assert dfs_order(tree(), 1) == [1, 2, 4, 5, 3, 6]


def test_dfs_with_cycle():
    g = Graph.from_edges([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert dfs_order(g, "a") == ["a", "b", "c", "d"]


def test_hops():
    assert hops(tree(), 1) == {1: 0, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2}


def test_hops_directed_unreachable():
    g = Graph.from_edges([(1, 2), (3, 1)], directed=True)
    assert hops(g, 1) == {1: 0, 2: 1}


def weighted():
    return Graph.from_edges(
        [("a", "b", 4), ("a", "c", 1), ("c", "b", 2), ("b", "d", 1), ("c", "d", 5)],
        directed=True,
    )


def test_dijkstra_distances():
    distance, _ = dijkstra(weighted(), "a")
    assert distance == {"a": 0, "b": 3, "c": 1, "d": 4}


def test_shortest_path():
    assert shortest_path(weighted(), "a", "d") == (4, ["a", "c", "b", "d"])


def test_shortest_path_to_self():
    assert shortest_path(weighted(), "a", "a") == (0, ["a"])


def test_shortest_path_unreachable():
    assert shortest_path(weighted(), "d", "a") is None


def test_dijkstra_zero_weight():
    g = Graph.from_edges([(1, 2, 0), (2, 3, 0)], directed=True)
    assert dijkstra(g, 1)[0] == {1: 0, 2: 0, 3: 0}


def test_dijkstra_negative_weight():
    g = Graph.from_edges([(1, 2, -1)], directed=True)
    try:
        dijkstra(g, 1)
    except ValueError as error:
        assert "negative" in str(error)
    else:
        raise AssertionError("expected ValueError")


def test_has_path():
    g = Graph.from_edges([(1, 2), (3, 4)])
    assert has_path(g, 2, 1)
    assert not has_path(g, 1, 4)
