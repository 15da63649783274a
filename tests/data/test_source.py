"""TaskSource: deterministic, reshuffled per epoch, partitioned across hosts, resumable."""
import json

import pytest

from swejax.data.source import TaskSource


def _draw(source, n, k=1):
  it = source.iterator()
  return [it.next_batch(n) for _ in range(k)]


def test_same_seed_same_stream_other_seed_other_stream():
  a = _draw(TaskSource(50, seed=3, shard_index=0, shard_count=1), 10, 5)
  b = _draw(TaskSource(50, seed=3, shard_index=0, shard_count=1), 10, 5)
  c = _draw(TaskSource(50, seed=4, shard_index=0, shard_count=1), 10, 5)
  assert a == b
  assert a != c


def test_epochs_cover_the_pool_in_a_new_order():
  it = TaskSource(20, seed=0, shard_index=0, shard_count=1).iterator()
  epochs = [it.next_batch(20) for _ in range(3)]
  for e in epochs:
    assert sorted(e) == list(range(20))
  assert epochs[0] != epochs[1] and epochs[1] != epochs[2]
  assert epochs[0] != list(range(20))  # shuffled at all


def test_batches_span_epoch_boundaries():
  it = TaskSource(7, seed=1, shard_index=0, shard_count=1).iterator()
  flat = [i for _ in range(5) for i in it.next_batch(3)]  # 15 items = 2 epochs + 1
  assert sorted(flat[:7]) == list(range(7)) and sorted(flat[7:14]) == list(range(7))


@pytest.mark.parametrize("num_tasks,count", [(12, 3), (13, 4), (5, 5)])
def test_host_split_is_a_partition(num_tasks, count):
  shards = [TaskSource(num_tasks, seed=9, shard_index=i, shard_count=count)
            for i in range(count)]
  per_epoch = [_draw(s, len(s.shard_indices()))[0] for s in shards]
  seen = [i for p in per_epoch for i in p]
  assert sorted(seen) == list(range(num_tasks))  # disjoint and complete
  assert max(map(len, per_epoch)) - min(map(len, per_epoch)) <= 1


def test_default_shard_is_the_jax_process():
  s = TaskSource(10, seed=0)
  assert (s.shard_index, s.shard_count) == (0, 1)


def test_state_round_trip_resumes_exactly():
  source = TaskSource(11, seed=5, shard_index=1, shard_count=2)
  it = source.iterator()
  it.next_batch(4)
  it.next_batch(3)
  state = json.loads(json.dumps(it.get_state()))  # what a checkpoint stores
  expected = [it.next_batch(4) for _ in range(4)]
  resumed = TaskSource(11, seed=5, shard_index=1, shard_count=2).iterator()
  resumed.set_state(state)
  assert [resumed.next_batch(4) for _ in range(4)] == expected
  # The state is host independent: shard 0 resumes at the same position of its own stream.
  other = TaskSource(11, seed=5, shard_index=0, shard_count=2).iterator()
  other.next_batch(7)
  fresh0 = TaskSource(11, seed=5, shard_index=0, shard_count=2).iterator()
  fresh0.set_state(state)
  assert fresh0.next_batch(5) == other.next_batch(5)


def test_items_pool_yields_items():
  ids = [f"task-{i}" for i in range(6)]
  by_item = _draw(TaskSource(ids, seed=2, shard_index=0, shard_count=1), 6, 2)
  by_index = _draw(TaskSource(6, seed=2, shard_index=0, shard_count=1), 6, 2)
  assert by_item == [[ids[i] for i in b] for b in by_index]


def test_state_of_another_stream_is_refused():
  it = TaskSource(10, seed=1, shard_index=0, shard_count=1).iterator()
  it.next_batch(2)
  state = it.get_state()
  for other in (TaskSource(11, seed=1, shard_index=0, shard_count=1),
                TaskSource(10, seed=2, shard_index=0, shard_count=1),
                TaskSource(list(range(1, 11)), seed=1, shard_index=0, shard_count=1)):
    with pytest.raises(ValueError, match="another task stream"):
      other.iterator().set_state(state)
  with pytest.raises(ValueError, match="not a task source state"):
    it.set_state({"next_index": 3})


@pytest.mark.parametrize("kwargs,match", [
    ({"pool": 3, "shard_index": 0, "shard_count": 4}, "fewer than shard_count"),
    ({"pool": 3, "shard_index": 2, "shard_count": 2}, "shard_index < shard_count"),
    ({"pool": 3, "shard_index": 1}, "both shard_index and shard_count"),
    ({"pool": "abc"}, "int or a sequence"),
    ({"pool": 3, "seed": 2**32, "shard_index": 0, "shard_count": 1}, "seed must be in"),
    ({"pool": [object(), object()], "shard_index": 0, "shard_count": 1}, "stable repr"),
])
def test_bad_arguments_are_named(kwargs, match):
  with pytest.raises((ValueError, TypeError), match=match):
    TaskSource(**{"seed": 0, **kwargs})
