import pytest

from graphs import Graph


def test_undirected_edges_both_ways():
    g = Graph()
    g.add_edge("a", "b", 3)
    assert g.has_edge("b", "a")
    assert g.weight("b", "a") == 3


def test_directed_edge_one_way():
    g = Graph(directed=True)
    g.add_edge("a", "b")
    assert g.has_edge("a", "b")
    assert not g.has_edge("b", "a")


def test_nodes_and_neighbors_order():
    g = Graph.from_edges([("a", "c"), ("a", "b"), ("d", "a")])
    assert g.nodes == ["a", "c", "b", "d"]
    assert g.neighbors("a") == ["c", "b", "d"]


def test_edges_listed_once_when_undirected():
    g = Graph.from_edges([(1, 2, 5), (2, 3, 1)])
    assert g.edges() == [(1, 2, 5), (2, 3, 1)]


def test_edges_directed():
    g = Graph.from_edges([(1, 2), (2, 1)], directed=True)
    assert g.edges() == [(1, 2, 1), (2, 1, 1)]


def test_remove_edge():
    g = Graph.from_edges([(1, 2), (2, 3)])
    g.remove_edge(2, 1)
    assert not g.has_edge(1, 2)
    assert g.has_edge(2, 3)


def test_remove_missing_edge():
    g = Graph.from_edges([(1, 2)], directed=True)
    with pytest.raises(KeyError):
        g.remove_edge(2, 1)


def test_degree():
    g = Graph.from_edges([(1, 2), (1, 3), (1, 1)])
    assert g.degree(1) == 4
    assert g.degree(2) == 1


def test_degree_directed():
    g = Graph.from_edges([(1, 2), (1, 3), (3, 1)], directed=True)
    assert g.degree(1) == 2
    assert g.in_degree(1) == 1
    assert g.in_degree(2) == 1


def test_reverse_directed():
    g = Graph.from_edges([("a", "b", 2)], directed=True).reverse()
    assert g.has_edge("b", "a")
    assert not g.has_edge("a", "b")
    assert g.weight("b", "a") == 2


def test_reverse_keeps_isolated_nodes():
    g = Graph(directed=True)
    g.add_node("x")
    g.add_edge("a", "b")
    assert sorted(g.reverse().nodes) == ["a", "b", "x"]
