import pytest

from textkit.distance import closest, common_prefix, hamming, levenshtein, similarity


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("kitten", "sitting", 3),
        ("", "abc", 3),
        ("flaw", "lawn", 2),
        ("same", "same", 0),
        ("ab", "ba", 2),
    ],
)
def test_levenshtein(a, b, expected):
    assert levenshtein(a, b) == expected


def test_levenshtein_symmetric():
    assert levenshtein("abc", "yabd") == levenshtein("yabd", "abc") == 2


def test_hamming():
    assert hamming("karolin", "kathrin") == 3


def test_hamming_length_mismatch():
    with pytest.raises(ValueError):
        hamming("abc", "ab")


def test_similarity_identical():
    assert similarity("abc", "abc") == 1.0


def test_similarity_empty():
    assert similarity("", "") == 1.0


def test_similarity_partial():
    assert similarity("abcd", "abcf") == 0.75


def test_closest_picks_best():
    assert closest("appel", ["apple", "ape", "maple"]) == "apple"


def test_closest_none_below_cutoff():
    assert closest("xyz", ["apple", "banana"]) is None


def test_closest_exact_cutoff_accepted():
    assert closest("abcd", ["abcf"], cutoff=0.75) == "abcf"


def test_common_prefix():
    assert common_prefix(["interview", "internet", "interval"]) == "inter"


def test_common_prefix_empty_list():
    assert common_prefix([]) == ""


def test_common_prefix_no_match():
    assert common_prefix(["abc", "xyz"]) == ""
