import numpy as np
import pytest

from swejax.rl.rewards import dapo_samples
from swejax.rl.rewards import group_advantages, length_penalty
from swejax.rl.episode import Episode


def test_length_penalty_is_the_papers_formula():
  # R_len = 0 if |tau| < L_thr else (L_thr - |tau|) / (T_max - L_thr); L_thr = 10, T_max = 40.
  assert length_penalty(9, threshold=10, max_turns=40) == 0.0
  assert length_penalty(10, threshold=10, max_turns=40) == 0.0
  assert length_penalty(25, threshold=10, max_turns=40) == pytest.approx(-0.5)
  assert length_penalty(40, threshold=10, max_turns=40) == pytest.approx(-1.0)


def test_group_advantages_normalise_and_zero_for_equal_rewards():
  a = group_advantages([1.0, 0.0, 0.0, 1.0])
  r = np.array([1.0, 0.0, 0.0, 1.0])
  np.testing.assert_allclose(a, (r - r.mean()) / (r.std(ddof=1) + 1e-6))
  assert (group_advantages([1.0, 1.0, 1.0]) == 0).all()
  assert (group_advantages([-0.2, -0.2]) == 0).all()


def _ep(task, g, reward):
  return Episode(task_id=task, group=g, tokens=[1, 2], loss_mask=[0, 1], logprobs=[0.0, -1.0],
                 turns=3, termination="submit", reward=reward, resolved=reward > 0)


def test_zero_advantage_samples_are_dropped():
  groups = {"a": [_ep("a", 0, 1.0), _ep("a", 1, 0.0)],
            "b": [_ep("b", 0, 1.0), _ep("b", 1, 1.0)],
            "c": [_ep("c", 0, 0.0), _ep("c", 1, 0.0)]}
  kept, dropped = dapo_samples(groups, eps=1e-6)
  assert dropped == 4
  assert sorted((s.episode.task_id, s.episode.group) for s in kept) == [("a", 0), ("a", 1)]
  assert kept[0].advantage == -kept[1].advantage != 0
