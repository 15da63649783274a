"""A conversation straight to token ids, with a mask of the policy's own tokens.

Text turns are rendered by the tokenizer's chat template (swejax.tokenizer.template:
the ids `transformers.apply_chat_template` gives, control tokens in message text kept
as text). Sampled assistant turns keep the ids the policy sampled, never decoded and
re-encoded; around them go the template's own framing: the generation prompt before,
and after the sampler's `<|im_end|>` what the template writes after an assistant turn.

The conversation only grows: the prompt of turn k+1 is the prompt of turn k, its
sampled ids and the new messages. The training view (ids, mask) is exactly the
sequence the sampler was conditioned on. A template that rewrites earlier turns once
later ones follow (Qwen3 drops the <think> of assistant turns before the last user
message) is not followed there: swejax keeps the sampled reasoning in the context of
later turns, in sampling and in training alike, so the log-probabilities it trains
are those of the context the policy saw. Whole text conversations (`render_chat`
without sampled turns, `swejax tokenize`) are rendered exactly as the template says.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence

import numpy as np

from swejax.tokenizer.template import ChatTemplate
from swejax.tokenizer.tokenizer import IM_END, Tokenizer

ROLES = ("system", "user", "assistant", "tool")
# A question and an answer that text turns after a sampled one are rendered behind:
# the template sees a conversation whose last turn is an assistant's, and the text
# after the answer's end is the new turns' framing.
_ANCHOR = ({"role": "user", "content": "swejax anchor question"},
           {"role": "assistant", "content": "swejax anchor answer"})


@dataclasses.dataclass(frozen=True)
class _Framing:
  header: tuple[int, ...]  # the generation prompt: the ids before a sampled turn
  after_end: tuple[int, ...]  # the ids the template writes after an assistant's <|im_end|>
  turn_end: str  # the text after an assistant message's content


def _after_anchor(template: ChatTemplate, text: str, what: str) -> str:
  answer = _ANCHOR[1]["content"]
  at = text.find(answer)
  if at < 0:
    raise ValueError(f"{template.origin}: an assistant message's content does not appear "
                     f"in the rendered text ({what}); swejax cannot frame sampled turns")
  return text[at + len(answer):]


@functools.lru_cache(maxsize=16)
def framing(template: ChatTemplate) -> _Framing:
  """The template's framing of an assistant turn; ValueError naming the template if
  swejax cannot keep sampled ids under it (a turn must end with `<|im_end|>`)."""
  question = [_ANCHOR[0]]
  plain = template.render(question)
  prompt = template.render(question, add_generation_prompt=True)
  if not prompt.startswith(plain) or prompt == plain:
    raise ValueError(f"{template.origin}: add_generation_prompt must append a prompt to the "
                     "conversation; the rendered text does not extend it")
  turn_end = _after_anchor(template, template.render(list(_ANCHOR)), "last turn")
  later = _after_anchor(template, template.render([*_ANCHOR, _ANCHOR[0]]), "a turn follows")
  if not turn_end.startswith(IM_END) or not later.startswith(turn_end):
    raise ValueError(f"{template.origin}: an assistant turn must end with {IM_END} (the "
                     f"sampler's stop token) the same way whether or not a turn follows; "
                     f"it ends with {turn_end!r}")
  return _Framing(header=tuple(template.encode_text(prompt[len(plain):])),
                  after_end=tuple(template.encode_text(turn_end[len(IM_END):])),
                  turn_end=turn_end)


@dataclasses.dataclass(frozen=True)
class Message:
  """One turn: `text`, or the `token_ids` the policy sampled.

  `logprobs` are the sampler's, one per id; `trainable=False` keeps a sampled turn
  in context without loss (e.g. a format error during RFT)."""
  role: str
  text: str | None = None
  token_ids: Sequence[int] | None = None
  trainable: bool = True
  logprobs: Sequence[float] | None = None


@dataclasses.dataclass(frozen=True)
class Rendered:
  """A rendered conversation; all arrays have the same length n."""
  ids: np.ndarray  # int32 [n]
  loss_mask: np.ndarray  # int8 [n]: 1 only on sampled ids of trainable turns
  logprobs: np.ndarray  # float32 [n]: the sampler's, 0 where not sampled


class ChatBuilder:
  """Builds a multi-turn conversation incrementally, append-only.

  The prompt of turn k+1 extends the prompt of turn k by exactly turn k's sampled
  ids and the new messages, which is what a sampler's prefix cache relies on:

      chat = ChatBuilder(tok).system(prompt).user(issue)
      ids = sample(chat.generation_prompt())
      chat.assistant_sampled(ids).user(observation)

  Text messages are rendered together once ids are asked for (a template may join
  consecutive tool outputs into one turn).
  """

  def __init__(self, tok: Tokenizer):
    self._tok = tok
    self._template = tok.chat_template
    self._framing = framing(self._template)
    self._ids: list[int] = []
    self._mask: list[int] = []
    self._logprobs: list[float] = []
    self._segment: list[dict] = []  # text messages since the last sampled turn
    self._segment_ids: list[int] = []  # the ids of those already in _ids
    self._rendered = 0  # how many of the segment's messages those ids cover
    self._sampled = False  # whether the segment follows a sampled turn

  def __len__(self) -> int:
    self._flush()
    return len(self._ids)

  def _extend(self, ids: Sequence[int], mask: int = 0,
              logprobs: Sequence[float] | None = None) -> None:
    self._ids.extend(ids)
    self._mask.extend([mask] * len(ids))
    self._logprobs.extend(logprobs or [0.0] * len(ids))

  def _flush(self) -> None:
    """Renders the pending text messages and appends their new ids."""
    if self._rendered == len(self._segment):
      return
    if self._sampled:  # rendered behind a finished assistant turn, which is cut off
      text = self._template.render([*_ANCHOR, *self._segment])
      text = _after_anchor(self._template, text, "messages after a sampled turn")
      if not text.startswith(self._framing.turn_end):
        raise ValueError(f"{self._template.origin}: an assistant turn ends differently once "
                         "messages follow it; swejax cannot append to sampled turns")
      ids = self._template.encode_text(text[len(self._framing.turn_end):])
    else:
      ids = self._template.encode(self._segment)
    done = self._segment_ids
    if ids[:len(done)] != done:
      raise ValueError(f"{self._template.origin}: the template renders earlier messages "
                       "differently once more follow; append consecutive text messages "
                       "before asking for ids")
    self._extend(ids[len(done):])
    self._segment_ids, self._rendered = ids, len(self._segment)

  def message(self, role: str, text: str) -> ChatBuilder:
    """Appends a text turn (context only: mask 0)."""
    if role not in ROLES:
      raise ValueError(f"message role must be one of {ROLES}, got {role!r}")
    if not isinstance(text, str):
      raise TypeError(f"{role} message text must be str, got {type(text).__name__}")
    self._segment.append({"role": role, "content": text})
    return self

  def system(self, text: str) -> ChatBuilder:
    return self.message("system", text)

  def user(self, text: str) -> ChatBuilder:
    return self.message("user", text)

  def tool(self, text: str) -> ChatBuilder:
    return self.message("tool", text)

  def assistant_sampled(self, token_ids: Sequence[int] | np.ndarray,
                        trainable: bool = True,
                        logprobs: Sequence[float] | np.ndarray | None = None
                        ) -> ChatBuilder:
    """Appends the generation prompt, the ids sampled after it and the template's
    text after a turn (`\n` in ChatML).

    If the sampler was cut off before its `<|im_end|>`, one is added with mask 0.
    """
    array = np.asarray(token_ids).reshape(-1)
    if array.size and array.dtype.kind not in "iu":
      raise TypeError(f"sampled token ids must be integers, got dtype {array.dtype}")
    ids = array.tolist()
    if any(i < 0 for i in ids):
      raise ValueError(f"sampled token ids must be >= 0, got {min(ids)}")
    if logprobs is not None:
      logprobs = np.asarray(logprobs, dtype=np.float64).reshape(-1).tolist()
      if len(logprobs) != len(ids):
        raise ValueError(f"logprobs has {len(logprobs)} entries for {len(ids)} ids")
    self._flush()
    self._extend(self._framing.header)
    self._extend(ids, mask=int(bool(trainable)), logprobs=logprobs)
    if not ids or ids[-1] != self._tok.im_end_id:
      self._extend((self._tok.im_end_id,))
    self._extend(self._framing.after_end)
    self._segment, self._segment_ids, self._rendered, self._sampled = [], [], 0, True
    return self

  def add(self, message: Message) -> ChatBuilder:
    """Appends a Message (text or sampled)."""
    if (message.text is None) == (message.token_ids is None):
      raise ValueError(f"{message.role} message needs exactly one of text or token_ids")
    if message.token_ids is None:
      return self.message(message.role, message.text)
    if message.role != "assistant":
      raise ValueError(f"only assistant messages can carry token_ids, not {message.role!r}")
    return self.assistant_sampled(message.token_ids, message.trainable,
                                  message.logprobs)

  def generation_prompt(self) -> np.ndarray:
    """The ids so far + the template's generation prompt: the prompt to sample from."""
    self._flush()
    return np.asarray([*self._ids, *self._framing.header], dtype=np.int32)

  @property
  def ids(self) -> np.ndarray:
    self._flush()
    return np.asarray(self._ids, dtype=np.int32)

  @property
  def mask(self) -> np.ndarray:
    self._flush()
    return np.asarray(self._mask, dtype=np.int8)

  @property
  def logprobs(self) -> np.ndarray:
    self._flush()
    return np.asarray(self._logprobs, dtype=np.float32)

  def rendered(self) -> Rendered:
    return Rendered(self.ids, self.mask, self.logprobs)


def render_chat(tok: Tokenizer, messages: Iterable[Message], *,
                add_generation_prompt: bool = False) -> Rendered:
  """Renders whole messages to ids, loss mask and sampler log-probabilities."""
  chat = ChatBuilder(tok)
  for index, message in enumerate(messages):
    try:
      chat.add(message)
    except (TypeError, ValueError) as e:
      raise type(e)(f"message {index}: {e}") from None
  if not add_generation_prompt:
    return chat.rendered()
  ids = chat.generation_prompt()
  pad = len(ids) - len(chat)
  return Rendered(ids, np.pad(chat.mask, (0, pad)), np.pad(chat.logprobs, (0, pad)))
