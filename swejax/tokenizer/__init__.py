"""A model's own tokenizer and chat template, token-in-token-out."""
from swejax.tokenizer.chat import ChatBuilder, Message, Rendered, render_chat
from swejax.tokenizer.template import ChatTemplate
from swejax.tokenizer.tokenizer import Tokenizer, default_tokenizer

__all__ = ["ChatBuilder", "ChatTemplate", "Message", "Rendered", "Tokenizer",
           "default_tokenizer", "render_chat"]
