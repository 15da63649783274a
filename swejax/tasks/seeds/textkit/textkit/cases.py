"""Converting identifiers between naming conventions."""

import re

_BOUNDARY = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]+|\d+")


def split_words(text):
    """Split an identifier or phrase into lowercase words.

    Handles camelCase, PascalCase, snake_case, kebab-case, acronyms and digits.
    """
    words = []
    for chunk in re.split(r"[\s_\-./]+", text):
        if not chunk:
            continue
        words.extend(match.group(0).lower() for match in _BOUNDARY.finditer(chunk))
    return words


def snake_case(text):
    return "_".join(split_words(text))


def kebab_case(text):
    return "-".join(split_words(text))


def camel_case(text):
    words = split_words(text)
    if not words:
        return ""
    return words[0] + "".join(word.capitalize() for word in words[1:])


def pascal_case(text):
    return "".join(word.capitalize() for word in split_words(text))


def title_case(text, minor=("a", "an", "and", "of", "the", "to", "in", "or")):
    """Title-case a phrase, keeping minor words lowercase except at the ends."""
    words = text.split()
    result = []
    for index, word in enumerate(words):
        is_edge = index == 0 or index == len(words) - 1
        if word.lower() in minor and not is_edge:
            result.append(word.lower())
        else:
            result.append(word[:1].upper() + word[1:].lower())
    return " ".join(result)


def slugify(text, max_length=50, separator="-"):
    """Make a URL slug: ASCII lowercase words joined by `separator`.

    The slug is cut at a word boundary so it is at most `max_length` long.
    """
    ascii_text = text.encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = slug + separator + word if slug else word
        if len(candidate) > max_length:
            break
        slug = candidate
    return slug
