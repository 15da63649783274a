import pytest

from textkit.wrap import align, count_words, dedent, indent, truncate, wrap


def test_wrap_basic():
    assert wrap("the quick brown fox jumps", width=10) == ["the quick", "brown fox", "jumps"]


def test_wrap_exact_width():
    assert wrap("aaa bbb ccc", width=7) == ["aaa bbb", "ccc"]


def test_wrap_long_word():
    assert wrap("a verylongword b", width=5) == ["a", "verylongword", "b"]


def test_wrap_empty():
    assert wrap("   ") == []


def test_wrap_invalid_width():
    with pytest.raises(ValueError):
        wrap("text", width=0)


def test_truncate_short_text_unchanged():
    assert truncate("hello", 5) == "hello"


def test_truncate_at_word_boundary():
    assert truncate("the quick brown fox", 15) == "the quick..."


def test_truncate_hard_cut():
    assert truncate("abcdefghijkl", 8) == "abcde..."


def test_truncate_custom_ellipsis():
    assert truncate("abcdefghij", 6, ellipsis="~") == "abcde~"


def test_truncate_limit_too_small():
    with pytest.raises(ValueError):
        truncate("hello", 2)


def test_indent_skips_blank_lines():
    assert indent("a\n\nb", prefix="> ") == "> a\n\n> b"


def test_indent_all_lines():
    assert indent("a\n", prefix="#", skip_blank=False) == "#a\n#"


def test_dedent():
    assert dedent("    a\n      b\n\n    c") == "a\n  b\n\nc"


def test_dedent_no_margin():
    assert dedent("a\n  b") == "a\n  b"


def test_align_left():
    assert align("ab", 5) == "ab   "


def test_align_right():
    assert align("ab", 5, how="right", fill=".") == "...ab"


def test_align_center():
    assert align("ab", 7, how="center", fill="*") == "**ab***"


def test_align_too_long():
    assert align("abcdef", 3) == "abcdef"


def test_align_unknown():
    with pytest.raises(ValueError):
        align("x", 3, how="justify")


def test_count_words_order():
    assert count_words("b a b c a b") == [("b", 3), ("a", 2), ("c", 1)]


def test_count_words_punctuation_and_case():
    assert count_words("Yes! yes, (YES) no.") == [("yes", 3), ("no", 1)]
