"""String similarity measures."""


def levenshtein(a, b):
    """Minimum number of single-character insertions, deletions or substitutions."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


def hamming(a, b):
    """Number of positions at which two equal-length strings differ."""
    if len(a) != len(b):
        raise ValueError("strings must have the same length")
    return sum(1 for x, y in zip(a, b) if x != y)


def similarity(a, b):
    """1.0 for equal strings, down to 0.0, from the edit distance."""
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    return 1.0 - levenshtein(a, b) / longest


def closest(word, candidates, cutoff=0.6):
    """The candidate most similar to `word`, or None if none reaches `cutoff`."""
    best = None
    best_score = cutoff
    for candidate in candidates:
        score = similarity(word, candidate)
        if score >= best_score and (best is None or score > best_score):
            best, best_score = candidate, score
    return best


def common_prefix(strings):
    """The longest prefix shared by every string."""
    if not strings:
        return ""
    prefix = strings[0]
    for text in strings[1:]:
        while not text.startswith(prefix):
            prefix = prefix[:-1]
    return prefix
