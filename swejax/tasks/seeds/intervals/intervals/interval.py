"""Half-open intervals [start, end) and sets of disjoint intervals."""


class Interval:
    """The half-open interval [start, end). Empty when start == end."""

    __slots__ = ("start", "end")

    def __init__(self, start, end):
        if end < start:
            raise ValueError(f"interval end {end} is before start {start}")
        self.start = start
        self.end = end

    def __repr__(self):
        return f"Interval({self.start!r}, {self.end!r})"

    def __eq__(self, other):
        if not isinstance(other, Interval):
            return NotImplemented
        return (self.start, self.end) == (other.start, other.end)

    def __hash__(self):
        return hash((self.start, self.end))

    def __lt__(self, other):
        return (self.start, self.end) < (other.start, other.end)

    @property
    def length(self):
        return self.end - self.start

    def is_empty(self):
        return self.start == self.end

    def contains(self, value):
        return self.start <= value < self.end

    def overlaps(self, other):
        return self.start < other.end and other.start < self.end

    def touches(self, other):
        """True if the intervals overlap or are adjacent."""
        return self.start <= other.end and other.start <= self.end

    def intersection(self, other):
        start = max(self.start, other.start)
        end = min(self.end, other.end)
        if start >= end:
            return None
        return Interval(start, end)

    def hull(self, other):
        """The smallest interval containing both."""
        return Interval(min(self.start, other.start), max(self.end, other.end))

    def shift(self, offset):
        return Interval(self.start + offset, self.end + offset)

    def split(self, point):
        """Split at `point` into two intervals; the point must lie inside."""
        if not self.start < point < self.end:
            raise ValueError(f"{point} is not strictly inside {self!r}")
        return Interval(self.start, point), Interval(point, self.end)


def merge(intervals):
    """Merge overlapping or adjacent intervals; drop empty ones; sorted result."""
    result = []
    for current in sorted(i for i in intervals if not i.is_empty()):
        if result and result[-1].touches(current):
            result[-1] = result[-1].hull(current)
        else:
            result.append(current)
    return result


class IntervalSet:
    """A set of numbers stored as sorted, disjoint, non-adjacent intervals."""

    def __init__(self, intervals=()):
        self._intervals = merge(intervals)

    def __iter__(self):
        return iter(self._intervals)

    def __len__(self):
        return len(self._intervals)

    def __eq__(self, other):
        return isinstance(other, IntervalSet) and self._intervals == other._intervals

    def __repr__(self):
        return f"IntervalSet({self._intervals!r})"

    def __contains__(self, value):
        lo, hi = 0, len(self._intervals)
        while lo < hi:
            mid = (lo + hi) // 2
            interval = self._intervals[mid]
            if value < interval.start:
                hi = mid
            elif value >= interval.end:
                lo = mid + 1
            else:
                return True
        return False

    @property
    def total_length(self):
        return sum(i.length for i in self._intervals)

    def add(self, interval):
        self._intervals = merge(self._intervals + [interval])

    def union(self, other):
        return IntervalSet(list(self) + list(other))

    def intersection(self, other):
        result = []
        a, b = self._intervals, list(other)
        i = j = 0
        while i < len(a) and j < len(b):
            common = a[i].intersection(b[j])
            if common is not None:
                result.append(common)
            if a[i].end < b[j].end:
                i += 1
            else:
                j += 1
        return IntervalSet(result)

    def subtract(self, other):
        result = []
        for interval in self._intervals:
            pieces = [interval]
            for cut in other:
                next_pieces = []
                for piece in pieces:
                    if not piece.overlaps(cut):
                        next_pieces.append(piece)
                        continue
                    if piece.start < cut.start:
                        next_pieces.append(Interval(piece.start, cut.start))
                    if cut.end < piece.end:
                        next_pieces.append(Interval(cut.end, piece.end))
                pieces = next_pieces
            result.extend(pieces)
        return IntervalSet(result)

    def gaps(self, within=None):
        """The intervals between members (optionally clipped to `within`)."""
        result = []
        for left, right in zip(self._intervals, self._intervals[1:]):
            result.append(Interval(left.end, right.start))
        if within is not None:
            bounds = IntervalSet([within])
            return bounds.subtract(self)
        return IntervalSet(result)
