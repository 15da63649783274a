"""Qwen chat format straight to token ids, with a mask of the policy's own tokens.

Turn: `<|im_start|>{role}\\n{content}<|im_end|>\\n`. Specials go in by id and the text
between two of them is encoded whole, as Hugging Face does for the template text.
Sampled assistant ids are kept as they are, never decoded and re-encoded.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from swejax.tokenizer.tokenizer import Tokenizer

ROLES = ("system", "user", "assistant")


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
  """

  def __init__(self, tok: Tokenizer):
    self._tok = tok
    self._ids: list[int] = []
    self._mask: list[int] = []
    self._logprobs: list[float] = []
    self._newline = tuple(tok.encode("\n"))
    self._header = (tok.im_start_id, *tok.encode("assistant\n"))

  def __len__(self) -> int:
    return len(self._ids)

  def _extend(self, ids: Sequence[int], mask: int = 0,
              logprobs: Sequence[float] | None = None) -> None:
    self._ids.extend(ids)
    self._mask.extend([mask] * len(ids))
    self._logprobs.extend(logprobs or [0.0] * len(ids))

  def message(self, role: str, text: str) -> ChatBuilder:
    """Appends a text turn (context only: mask 0)."""
    if role not in ROLES:
      raise ValueError(f"message role must be one of {ROLES}, got {role!r}")
    if not isinstance(text, str):
      raise TypeError(f"{role} message text must be str, got {type(text).__name__}")
    self._extend((self._tok.im_start_id, *self._tok.encode(f"{role}\n{text}"),
                  self._tok.im_end_id, *self._newline))
    return self

  def system(self, text: str) -> ChatBuilder:
    return self.message("system", text)

  def user(self, text: str) -> ChatBuilder:
    return self.message("user", text)

  def assistant_sampled(self, token_ids: Sequence[int] | np.ndarray,
                        trainable: bool = True,
                        logprobs: Sequence[float] | np.ndarray | None = None
                        ) -> ChatBuilder:
    """Appends the header, the ids sampled after `generation_prompt()` and `\\n`.

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
    self._extend(self._header)
    self._extend(ids, mask=int(bool(trainable)), logprobs=logprobs)
    if not ids or ids[-1] != self._tok.im_end_id:
      self._extend((self._tok.im_end_id,))
    self._extend(self._newline)
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
    """The ids so far + `<|im_start|>assistant\\n`: the prompt to sample from."""
    return np.asarray([*self._ids, *self._header], dtype=np.int32)

  @property
  def ids(self) -> np.ndarray:
    return np.asarray(self._ids, dtype=np.int32)

  @property
  def mask(self) -> np.ndarray:
    return np.asarray(self._mask, dtype=np.int8)

  @property
  def logprobs(self) -> np.ndarray:
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
