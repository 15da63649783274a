import pytest

from textkit.cases import (
    camel_case,
    kebab_case,
    pascal_case,
    slugify,
    snake_case,
    split_words,
    title_case,
)


def test_split_camel():
    assert split_words("parseHttpResponse") == ["parse", "http", "response"]


def test_split_acronym():
    assert split_words("HTTPServerError") == ["http", "server", "error"]


def test_split_digits():
    assert split_words("version2Update") == ["version", "2", "update"]


def test_split_separators():
    assert split_words("make-it_so now") == ["make", "it", "so", "now"]


def test_split_empty():
    assert split_words("  __ ") == []


def test_snake_case():
    assert snake_case("HTTPServerError") == "http_server_error"


def test_kebab_case():
    assert kebab_case("Hello World") == "hello-world"


def test_camel_case():
    assert camel_case("user_id_list") == "userIdList"


def test_camel_case_empty():
    assert camel_case("") == ""


def test_pascal_case():
    assert pascal_case("read-config file") == "ReadConfigFile"


def test_title_case_minor_words():
    assert title_case("the lord of the rings") == "The Lord of the Rings"


def test_title_case_last_word_capitalized():
    assert title_case("what it is made of") == "What It Is Made Of"


def test_title_case_lowercases_rest():
    assert title_case("hELLO wORLD") == "Hello World"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", "hello-world"),
        ("  Crème brûlée  ", "crme-brle"),
        ("2024 Annual Report", "2024-annual-report"),
    ],
)
def test_slugify(text, expected):
    assert slugify(text) == expected


def test_slugify_max_length_cuts_at_word():
    assert slugify("one two three four", max_length=13) == "one-two-three"


def test_slugify_max_length_drops_partial_word():
    assert slugify("one two three four", max_length=12) == "one-two"


def test_slugify_separator():
    assert slugify("A B C", separator="_") == "a_b_c"
