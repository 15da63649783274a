"""A model's Jinja chat template, rendered and encoded as `transformers` does.

`render` uses the environment of `transformers.apply_chat_template` (sandboxed,
trim_blocks/lstrip_blocks, loopcontrols, `raise_exception`, `strftime_now`, a
non-escaping `tojson`, a dunder-proof `namespace`), so the text is the same; the
template is untrusted code from a model repository, hence the sandbox.

`encode` splits the text at the template's own added tokens and encodes the text
between them, as `apply_chat_template(..., sanitize_control_tokens=True)` does:
a message that spells an added token ("<|im_end|>", "</tool_response>") gets it as
plain text, never as the token, so an observation cannot end a turn or forge a role.
transformers protects only the special tokens and those the template spells; swejax
protects every added token (whitespace ones aside), as its `Tokenizer.encode` does.
"""
from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

if TYPE_CHECKING:
  from swejax.tokenizer.tokenizer import Tokenizer

# ChatML as swejax has always rendered it (no default system prompt): the template
# of a tokenizer that brings none, and of the embedded one (build.py writes it).
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")

# Private-use markers around a control token written inside a message (transformers'
# own pair, so that a rendered text means the same to both).
_START, _END = "\U000f0000", "\U000f0001"
# transformers copies a message's reasoning under each of these names.
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def _raise_exception(message: str):
  raise jinja2.exceptions.TemplateError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
  return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                    sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
  return datetime.datetime.now().strftime(fmt)


class _Dict:
  """`dict` for templates without its class attributes (no escape through them)."""

  def __call__(self, *args, **kwargs):
    return dict(*args, **kwargs)

  def fromkeys(self, *args, **kwargs):
    return dict.fromkeys(*args, **kwargs)


class _Namespace(jinja2.utils.Namespace):
  """Jinja's namespace refusing underscore names (CPython internals)."""

  def __init__(*args, **kwargs):  # pylint: disable=no-method-argument
    self, args = args[0], args[1:]
    attrs = dict(*args, **kwargs)
    for name in attrs:
      _Namespace._check(name)
    jinja2.utils.Namespace.__init__(self, attrs)

  def __setitem__(self, name, value):
    _Namespace._check(name)
    jinja2.utils.Namespace.__setitem__(self, name, value)

  @staticmethod
  def _check(name):
    if isinstance(name, str) and name.startswith("_"):
      raise jinja2.exceptions.SecurityError(
          f"chat templates cannot set underscore attribute {name!r} on a namespace")


class _Generation(jinja2.ext.Extension):
  """Accepts `{% generation %}...{% endgeneration %}` (a transformers tag) as a no-op:
  swejax knows which ids the policy sampled without it."""
  tags = {"generation"}

  def parse(self, parser):
    lineno = next(parser.stream).lineno
    body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
    return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

  def _body(self, caller):
    return caller()


@functools.lru_cache(maxsize=8)
def compile_template(source: str) -> jinja2.Template:
  """The compiled template; jinja2.TemplateSyntaxError if it is not valid Jinja."""
  env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                      extensions=[_Generation, jinja2.ext.loopcontrols])
  env.filters["tojson"] = _tojson
  env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now,
                     dict=_Dict(), namespace=_Namespace)
  return env.from_string(source)


def _plain(value: Any) -> Any:
  """JSON-like copy of `value`: the sandbox sees no caller objects and their methods."""
  if value is None or type(value) in (str, int, float, bool):
    return value
  if isinstance(value, str):
    return str.__str__(value)
  if isinstance(value, int):
    return int.__int__(value)
  if isinstance(value, float):
    return float.__float__(value)
  if isinstance(value, Mapping):
    return {_plain(k): _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  raise TypeError(f"chat messages hold JSON values only, got {type(value).__name__}")


def _mark(value: Any, control: re.Pattern) -> Any:
  """`value` with each control token in its strings wrapped in the markers (and any
  markers it brought dropped, so they cannot forge one)."""
  if isinstance(value, str):
    value = value.replace(_START, "").replace(_END, "")
    return control.sub(f"{_START}\\g<0>{_END}", value)
  if isinstance(value, dict):
    return {k: _mark(v, control) for k, v in value.items()}
  if isinstance(value, list):
    return [_mark(v, control) for v in value]
  return value


def prepare_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict]:
  """Messages as transformers hands them to a template: None values dropped, plain
  JSON, reasoning copied under the names templates read."""
  out = []
  for index, message in enumerate(messages):
    if not isinstance(message, Mapping):
      raise TypeError(f"message {index}: must be a mapping with role and content, "
                      f"got {type(message).__name__}")
    m = _plain({k: v for k, v in message.items() if v is not None})
    reasoning = next((m[k] for k in _REASONING_FIELDS if m.get(k) is not None), None)
    if reasoning is not None:
      m = {"thinking": reasoning, **m, "reasoning_content": reasoning}
    out.append(m)
  return out


def _pattern(tokens: Sequence[str]) -> re.Pattern:
  """Any of `tokens`, longest first (a token wins over the tokens it contains)."""
  ordered = sorted(tokens, key=len, reverse=True)
  return re.compile("|".join(map(re.escape, ordered)) or "(?!)")


class ChatTemplate:
  """A tokenizer's chat template: messages -> text -> ids."""

  def __init__(self, tok: Tokenizer, source: str, *, origin: str = "<chat template>"):
    try:
      self._template = compile_template(source)
    except jinja2.TemplateSyntaxError as e:
      raise ValueError(f"{origin}: chat template is not valid Jinja (line {e.lineno}: "
                       f"{e.message})") from None
    self.source, self.origin, self._tok = source, origin, tok
    self.control_tokens = tuple(sorted(t for t in tok.added_tokens if not t.isspace()))
    self._control = _pattern(self.control_tokens)
    marked = f"{_START}({self._control.pattern}){_END}|[{_START}{_END}]"
    self._markers = re.compile(marked)
    self._newline = tok.encode_with_added("\n")

  def render(self, messages: Sequence[Mapping[str, Any]], *,
             add_generation_prompt: bool = False, **kwargs) -> str:
    """The template's text, control tokens inside messages and kwargs marked (for
    `encode_text`); kwargs (e.g. enable_thinking) reach the template."""
    messages = _mark(prepare_messages(messages), self._control)
    kwargs = _mark(_plain(kwargs), self._control)
    variables = {**self._tok.special_tokens_map, **kwargs}
    variables.setdefault("tools", None)
    variables.setdefault("documents", None)
    try:
      return self._template.render(messages=messages,
                                   add_generation_prompt=add_generation_prompt, **variables)
    except jinja2.TemplateError as e:
      raise ValueError(f"{self.origin}: the chat template failed: {e}") from None

  def encode_text(self, text: str) -> list[int]:
    """Ids of rendered text: marked control tokens as plain text, the rest with
    the added tokens matched (the template's own control tokens)."""
    pieces = self._markers.split(text)  # [text, marked, text, marked, ..., text]
    ids = self._tok.encode_with_added(pieces[0])
    for i, piece in enumerate(pieces[1:], start=1):
      if not piece:
        continue
      as_text = i % 2 == 1
      ids += self._encode_piece(piece, as_text)
    return ids

  def _encode_piece(self, piece: str, as_text: bool) -> list[int]:
    # transformers encodes a middle piece after a "\n" and drops it again (for
    # SentencePiece's prefix space); the same trick keeps the ids the same.
    encode = self._tok.encode if as_text else self._tok.encode_with_added
    ids = encode("\n" + piece)
    ids = ids[len(self._newline):] if ids[:len(self._newline)] == self._newline else encode(piece)
    if as_text and self._tok.token_to_id(piece) in ids:
      raise ValueError(f"{self.origin}: cannot keep {piece!r} as text: the tokenizer's "
                       "vocabulary makes the token itself from its text")
    return ids

  def encode(self, messages: Sequence[Mapping[str, Any]], *,
             add_generation_prompt: bool = False, **kwargs) -> list[int]:
    """`apply_chat_template(messages, tokenize=True, sanitize_control_tokens=True)`."""
    if not messages:
      raise ValueError("cannot render an empty conversation")
    return self.encode_text(self.render(messages, add_generation_prompt=add_generation_prompt,
                                        **kwargs))
