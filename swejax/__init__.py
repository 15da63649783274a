"""swejax: RL for long-context, multi-turn software-engineering agents, in JAX."""

__version__ = "0.1.0"
