
import pytest

from swejax.rl.episode import Episode, EpisodeLog, read_episodes
from swejax.eval.summary import per_task_successes, summarize
from swejax.rl.finish import summary_of


def _ep(i, resolved=True):
  return Episode(task_id=f"t{i % 3}", group=i // 3, tokens=[1, 2, 3], loss_mask=[0, 1, 1],
                 logprobs=[0.0, -0.5, -0.25], turns=2, termination="submit", resolved=resolved,
                 reward=float(resolved))


def test_log_roundtrip_and_torn_last_line(tmp_path):
  path = str(tmp_path / "traj" / "dapo_1.jsonl")
  log = EpisodeLog(path)
  for i in range(5):
    log.append(_ep(i))
  with open(path, "a") as f:
    f.write('{"task_id": "t9", "gro')  # a crash in the middle of a write
  eps = list(read_episodes(path))
  assert [(e.task_id, e.group) for e in eps] == [(_ep(i).task_id, _ep(i).group) for i in range(5)]
  assert eps[0].tokens == [1, 2, 3] and eps[0].logprobs == [0.0, -0.5, -0.25]


def test_bad_episode_is_refused():
  with pytest.raises(ValueError, match="termination"):
    Episode(task_id="t", group=0, tokens=[], loss_mask=[], logprobs=[], turns=0,
            termination="crashed")
  with pytest.raises(ValueError, match="differ in length"):
    Episode(task_id="t", group=0, tokens=[1], loss_mask=[], logprobs=[], turns=0,
            termination="submit")


def test_summary_and_significance():
  eps = [_ep(i, resolved=(i % 2 == 0)) for i in range(12)]
  s = summarize(per_task_successes(eps), k=4)
  assert s["runs"] == 4 and s["tasks"] == 3
  assert 0 < s["pass@1"] < 1 and s["pass@k"] >= s["pass@1"]
  out = summary_of({"base": {"pass@1": 0.1, "stderr": 0.01, "pass@k": 0.2, "k": 4},
                    "rft": {"pass@1": 0.3, "stderr": 0.02, "pass@k": 0.5, "k": 4},
                    "dapo": {"pass@1": 0.31, "stderr": 0.02, "pass@k": 0.5, "k": 4}})
  assert [c["significant"] for c in out["comparisons"]] == [True, False]
  assert out["learned"] is False
