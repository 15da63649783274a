"""Sampling: token ids in, sampled ids and their log-probabilities out (JAX or vLLM)."""
from swejax.sampling.base import (Request, Result, Sampler, SamplerError, SamplingParams,
                                  TruncatedSamplingError)
from swejax.sampling.jax_sampler import JaxSampler
from swejax.sampling.vllm_fleet import VLLMFleet
from swejax.sampling.weight_sync import (DiskWeightSync, WeightSync, WeightSyncError,
                                         export_hf_weights, reload_server)

__all__ = [
    "DiskWeightSync", "VLLMFleet", "WeightSync", "WeightSyncError", "export_hf_weights",
    "reload_server",
    "JaxSampler", "Request", "Result", "Sampler", "SamplerError", "SamplingParams",
    "TruncatedSamplingError",
]
