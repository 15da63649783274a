"""Code that runs inside a vLLM server process (see swejax_weight_loader)."""
