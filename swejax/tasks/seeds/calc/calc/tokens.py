"""Splitting an expression into tokens."""

from dataclasses import dataclass


class CalcError(Exception):
    """Any error in an expression; `position` is the character offset."""

    def __init__(self, message, position=None):
        super().__init__(message if position is None else f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "op", "lparen", "rparen", "comma", "end"
    text: str
    position: int


_OPERATORS = ("**", "//", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">")


def tokenize(source):
    """Return the list of tokens of `source`, ending with an `end` token."""
    tokens = []
    i = 0
    while i < len(source):
        char = source[i]
        if char.isspace():
            i += 1
            continue
        if char.isdigit() or (char == "." and i + 1 < len(source) and source[i + 1].isdigit()):
            start = i
            seen_dot = False
            while i < len(source) and (source[i].isdigit() or source[i] == "."):
                if source[i] == ".":
                    if seen_dot:
                        raise CalcError("malformed number", start)
                    seen_dot = True
                i += 1
            tokens.append(Token("number", source[start:i], start))
            continue
        if char.isalpha() or char == "_":
            start = i
            while i < len(source) and (source[i].isalnum() or source[i] == "_"):
                i += 1
            tokens.append(Token("name", source[start:i], start))
            continue
        if char == "(":
            tokens.append(Token("lparen", char, i))
            i += 1
            continue
        if char == ")":
            tokens.append(Token("rparen", char, i))
            i += 1
            continue
        if char == ",":
            tokens.append(Token("comma", char, i))
            i += 1
            continue
        for op in _OPERATORS:
            if source.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise CalcError(f"unexpected character {char!r}", i)
    tokens.append(Token("end", "", len(source)))
    return tokens


def number_value(text):
    """The int or float a number token stands for."""
    if "." in text:
        return float(text)
    return int(text)
