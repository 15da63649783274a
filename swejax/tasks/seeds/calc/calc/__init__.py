"""A tiny arithmetic expression evaluator."""

from calc.evaluator import evaluate
from calc.parser import parse
from calc.tokens import tokenize

__all__ = ["evaluate", "parse", "tokenize"]
__version__ = "2.1.0"
