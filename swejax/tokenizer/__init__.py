"""Tokenizer and Qwen chat rendering, token-in-token-out."""
from swejax.tokenizer.chat import ChatBuilder, Message, Rendered, render_chat
from swejax.tokenizer.tokenizer import Tokenizer, default_tokenizer

__all__ = ["ChatBuilder", "Message", "Rendered", "Tokenizer", "default_tokenizer",
           "render_chat"]
