import pytest

from intervals import Interval, IntervalSet
from intervals.interval import merge


def test_invalid_interval():
    with pytest.raises(ValueError):
        Interval(5, 3)


def test_length_and_empty():
    assert Interval(2, 7).length == 5
    assert Interval(3, 3).is_empty()
    assert not Interval(3, 4).is_empty()


def test_contains_half_open():
    interval = Interval(1, 4)
    assert interval.contains(1)
    assert interval.contains(3.5)
    assert not interval.contains(4)
    assert not interval.contains(0)


def test_overlaps():
    assert Interval(0, 5).overlaps(Interval(4, 8))
    assert not Interval(0, 5).overlaps(Interval(5, 8))
    assert Interval(2, 3).overlaps(Interval(0, 10))


def test_touches_adjacent():
    assert Interval(0, 5).touches(Interval(5, 8))
    assert not Interval(0, 5).touches(Interval(6, 8))


def test_intersection():
    assert Interval(0, 5).intersection(Interval(3, 9)) == Interval(3, 5)


def test_intersection_disjoint():
    assert Interval(0, 2).intersection(Interval(2, 4)) is None


def test_hull():
    assert Interval(4, 6).hull(Interval(0, 1)) == Interval(0, 6)


def test_shift():
    assert Interval(1, 3).shift(10) == Interval(11, 13)


def test_split():
    assert Interval(0, 10).split(4) == (Interval(0, 4), Interval(4, 10))


def test_split_at_edge():
    with pytest.raises(ValueError):
        Interval(0, 10).split(10)


def test_sorting():
    assert sorted([Interval(3, 4), Interval(1, 9), Interval(1, 2)]) == [
        Interval(1, 2),
        Interval(1, 9),
        Interval(3, 4),
    ]


def test_merge_overlapping_and_adjacent():
    merged = merge([Interval(5, 7), Interval(0, 2), Interval(1, 3), Interval(3, 4)])
    assert merged == [Interval(0, 4), Interval(5, 7)]


def test_merge_drops_empty():
    assert merge([Interval(1, 1), Interval(2, 3)]) == [Interval(2, 3)]


def test_merge_nested():
    assert merge([Interval(0, 10), Interval(2, 3)]) == [Interval(0, 10)]


def test_set_contains():
    s = IntervalSet([Interval(0, 2), Interval(5, 8), Interval(10, 11)])
    assert 0 in s
    assert 7 in s
    assert 10.5 in s
    assert 2 not in s
    assert 9 not in s
    assert 11 not in s
    assert -1 not in s


def test_set_total_length():
    assert IntervalSet([Interval(0, 2), Interval(1, 4), Interval(6, 7)]).total_length == 5


def test_set_add_merges():
    s = IntervalSet([Interval(0, 1)])
    s.add(Interval(1, 3))
    assert list(s) == [Interval(0, 3)]
    assert len(s) == 1


def test_set_union():
    a = IntervalSet([Interval(0, 2)])
    b = IntervalSet([Interval(4, 5), Interval(1, 3)])
    assert list(a.union(b)) == [Interval(0, 3), Interval(4, 5)]


def test_set_intersection():
    a = IntervalSet([Interval(0, 5), Interval(8, 12)])
    b = IntervalSet([Interval(3, 9), Interval(11, 20)])
    assert list(a.intersection(b)) == [Interval(3, 5), Interval(8, 9), Interval(11, 12)]


def test_set_intersection_same_end():
    a = IntervalSet([Interval(0, 4), Interval(6, 9)])
    b = IntervalSet([Interval(2, 4), Interval(5, 7)])
    assert list(a.intersection(b)) == [Interval(2, 4), Interval(6, 7)]


def test_set_subtract_middle():
    a = IntervalSet([Interval(0, 10)])
    assert list(a.subtract([Interval(3, 5)])) == [Interval(0, 3), Interval(5, 10)]


def test_set_subtract_edges():
    a = IntervalSet([Interval(0, 10), Interval(20, 30)])
    cut = [Interval(-5, 2), Interval(8, 22)]
    assert list(a.subtract(cut)) == [Interval(2, 8), Interval(22, 30)]


def test_set_subtract_disjoint():
    a = IntervalSet([Interval(0, 3)])
    assert list(a.subtract([Interval(3, 5)])) == [Interval(0, 3)]


def test_gaps():
    s = IntervalSet([Interval(0, 2), Interval(4, 5), Interval(9, 10)])
    assert list(s.gaps()) == [Interval(2, 4), Interval(5, 9)]


def test_gaps_within():
    s = IntervalSet([Interval(2, 4)])
    assert list(s.gaps(within=Interval(0, 10))) == [Interval(0, 2), Interval(4, 10)]


def test_set_equality_and_repr():
    assert IntervalSet([Interval(0, 1), Interval(1, 2)]) == IntervalSet([Interval(0, 2)])
    assert repr(IntervalSet([Interval(0, 1)])) == "IntervalSet([Interval(0, 1)])"
