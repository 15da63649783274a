"""The learner: log-probabilities, the RFT/SFT and DAPO losses, and the sharded train step."""
from swejax.learner.losses import (combine_metrics, dapo_loss, next_token_logprobs, sft_loss,
                                   target_mask, token_logprobs)
from swejax.learner.mesh import make_mesh, maybe_initialize_distributed, mesh_shape
from swejax.learner.optimizer import decay_mask, make_optimizer, make_schedule
from swejax.learner.state import (TrainState, abstract_state, init_state, make_tx,
                                  param_shardings, state_shardings)
from swejax.learner.train_step import (StepConfig, batch_sharding, logprobs_step,
                                       make_train_step, split_microbatches, train_step)

__all__ = [
    "StepConfig", "TrainState", "abstract_state", "batch_sharding", "combine_metrics",
    "dapo_loss", "decay_mask", "init_state", "logprobs_step", "make_mesh", "make_optimizer",
    "make_schedule", "make_train_step", "make_tx", "maybe_initialize_distributed", "mesh_shape",
    "next_token_logprobs", "param_shardings", "sft_loss", "split_microbatches",
    "state_shardings", "target_mask", "token_logprobs", "train_step",
]
