"""Which slot a request goes to: its session's, the longest shared prefix, empty, LRU."""
from swejax.sampling.slots import Slot, choose, common_prefix


def test_common_prefix():
  assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
  assert common_prefix([1, 2], [1, 2, 3]) == 2
  assert common_prefix([], [1]) == 0 and common_prefix([7], [8]) == 0


def test_session_slot_first_even_over_a_longer_prefix():
  slots = [Slot([1, 2, 3, 4], "b", 5), Slot([1, 2], "a", 1), Slot()]
  assert choose(slots, [1, 2, 3, 4, 5], "a") == 1
  assert choose(slots, [1, 2, 3, 4, 5], None) == 0  # no session: the longest prefix


def test_empty_slot_then_least_recently_used():
  slots = [Slot([9], "x", 3), Slot(), Slot([8], "y", 1)]
  assert choose(slots, [1, 2], "new") == 1
  assert choose(slots, [1, 2], None) == 1
  slots[1] = Slot([7], "z", 2)
  assert choose(slots, [1, 2], "new") == 2  # LRU: last used at tick 1


def test_busy_slots_are_never_chosen():
  slots = [Slot([1, 2, 3], "a", 0, job=object()), Slot([5], "b", 9)]
  assert choose(slots, [1, 2, 3, 4], "a") == 1
  slots[1].job = object()
  assert choose(slots, [1], None) is None
