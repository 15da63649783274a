"""Wrapping, truncating and aligning plain text."""


def wrap(text, width=70):
    """Greedy word wrap. Words longer than `width` are put on their own line."""
    if width < 1:
        raise ValueError("width must be at least 1")
    lines = []
    current = []
    length = 0
    for word in text.split():
        extra = len(word) if not current else len(word) + 1
        if current and length + extra > width:
            lines.append(" ".join(current))
            current = [word]
            length = len(word)
        else:
            current.append(word)
            length += extra
    if current:
        lines.append(" ".join(current))
    return lines


def truncate(text, limit, ellipsis="..."):
    """Shorten `text` to at most `limit` characters, ending with `ellipsis`."""
    if limit < len(ellipsis):
        raise ValueError("limit is shorter than the ellipsis")
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def indent(text, prefix="    ", skip_blank=True):
    """Prefix every line; blank lines stay empty unless skip_blank is False."""
    out = []
    for line in text.split("\n"):
        if skip_blank and not line.strip():
            out.append(line)
        else:
            out.append(prefix + line)
    return "\n".join(out)


def dedent(text):
    """Remove the longest common leading whitespace of the non-blank lines."""
    lines = text.split("\n")
    margins = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    if not margins:
        return text
    margin = min(margins)
    return "\n".join(line[margin:] for line in lines)


def align(text, width, how="left", fill=" "):
    """Pad `text` to `width` on the right (left), left (right) or both (center)."""
    gap = width - len(text)
    if gap <= 0:
        return text
    if how == "left":
        return text + fill * gap
    if how == "right":
        return fill * gap + text
    if how == "center":
        left = gap // 2
        return fill * left + text + fill * (gap - left)
    raise ValueError(f"unknown alignment: {how}")


def count_words(text):
    """Word frequencies (case-insensitive), most frequent first, then alphabetical."""
    counts = {}
    for raw in text.split():
        word = raw.strip(".,;:!?\"'()").lower()
        if word:
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
