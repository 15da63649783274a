import pytest

from graphs import Graph
from graphs.structure import (
    CycleError,
    UnionFind,
    connected_components,
    has_cycle,
    is_bipartite,
    minimum_spanning_tree,
    topological_sort,
    two_coloring,
)


def test_topological_sort():
    g = Graph.from_edges(
        [("shirt", "tie"), ("tie", "jacket"), ("pants", "shoes"), ("pants", "belt"),
         ("belt", "jacket"), ("shirt", "belt")],
        directed=True,
    )
    assert topological_sort(g) == ["shirt", "pants", "tie", "shoes", "belt", "jacket"]


def test_topological_sort_cycle():
    g = Graph.from_edges([(1, 2), (2, 3), (3, 1)], directed=True)
    with pytest.raises(CycleError):
        topological_sort(g)


def test_topological_sort_undirected():
    with pytest.raises(ValueError):
        topological_sort(Graph.from_edges([(1, 2)]))


def test_connected_components():
    g = Graph.from_edges([(5, 6), (1, 2), (2, 3), (7, 7)])
    g.add_node(4)
    assert connected_components(g) == [[1, 2, 3], [5, 6], [4], [7]]


def test_union_find():
    forest = UnionFind("abcd")
    assert forest.union("a", "b")
    assert forest.union("c", "d")
    assert not forest.union("b", "a")
    assert forest.find("a") == forest.find("b")
    assert forest.find("a") != forest.find("c")
    assert forest.union("a", "d")
    assert forest.size[forest.find("c")] == 4


def test_minimum_spanning_tree():
    g = Graph.from_edges(
        [("a", "b", 4), ("a", "c", 3), ("b", "c", 1), ("b", "d", 2), ("c", "d", 4), ("d", "e", 2)]
    )
    total, edges = minimum_spanning_tree(g)
    assert total == 8
    assert edges == [("a", "c", 3), ("b", "c", 1), ("b", "d", 2), ("d", "e", 2)]


def test_minimum_spanning_forest():
    g = Graph.from_edges([(1, 2, 7), (3, 4, 1)])
    assert minimum_spanning_tree(g) == (8, [(1, 2, 7), (3, 4, 1)])


def test_two_coloring():
    g = Graph.from_edges([(1, 2), (2, 3), (3, 4), (4, 1)])
    assert two_coloring(g) == {1: 0, 2: 1, 4: 1, 3: 0}


def test_odd_cycle_not_bipartite():
    assert not is_bipartite(Graph.from_edges([(1, 2), (2, 3), (3, 1)]))


def test_bipartite_with_two_parts():
    assert is_bipartite(Graph.from_edges([(1, 2), (3, 4)]))


def test_has_cycle_undirected():
    assert has_cycle(Graph.from_edges([(1, 2), (2, 3), (3, 1)]))
    assert not has_cycle(Graph.from_edges([(1, 2), (2, 3), (3, 4)]))


def test_has_cycle_directed():
    assert has_cycle(Graph.from_edges([(1, 2), (2, 3), (3, 1)], directed=True))
    assert not has_cycle(Graph.from_edges([(1, 2), (1, 3), (2, 3)], directed=True))
