"""A minimal Markdown to HTML renderer.

Supported: ATX headings, paragraphs, unordered and ordered lists, fenced code
blocks, **strong**, *emphasis*, `code` and [links](url). Text is HTML-escaped.
"""

import html
import re

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"\*(.+?)\*")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ORDERED = re.compile(r"^\d+[.)]\s+")


def inline(text):
    """Render inline markup of one line of text."""
    text = html.escape(text, quote=False)
    text = _CODE.sub(lambda m: "<code>" + m.group(1) + "</code>", text)
    text = _LINK.sub(lambda m: '<a href="' + m.group(2) + '">' + m.group(1) + "</a>", text)
    text = _STRONG.sub(r"<strong>\1</strong>", text)
    text = _EM.sub(r"<em>\1</em>", text)
    return text


def heading(line):
    """Return (level, text) for an ATX heading line, else None."""
    match = _HEADING.match(line)
    if not match:
        return None
    return len(match.group(1)), match.group(2)


def render(source):
    """Render a Markdown document to HTML, one block per line of output."""
    out = []
    paragraph = []
    list_kind = None
    in_code = False
    code = []

    def flush_paragraph():
        if paragraph:
            out.append("<p>" + inline(" ".join(paragraph)) + "</p>")
            paragraph.clear()

    def close_list():
        nonlocal list_kind
        if list_kind is not None:
            out.append(f"</{list_kind}>")
            list_kind = None

    for line in source.split("\n"):
        if line.startswith("```"):
            if in_code:
                out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
                code = []
                in_code = False
            else:
                flush_paragraph()
                close_list()
                in_code = True
            continue
        if in_code:
            code.append(line)
            continue
        stripped = line.strip()
        if not stripped:
            flush_paragraph()
            close_list()
            continue
        found = heading(stripped)
        if found:
            flush_paragraph()
            close_list()
            level, text = found
            out.append(f"<h{level}>{inline(text)}</h{level}>")
            continue
        kind = None
        if stripped[:2] in ("- ", "* ", "+ "):
            kind, item = "ul", stripped[2:]
        elif _ORDERED.match(stripped):
            kind, item = "ol", _ORDERED.sub("", stripped, count=1)
        if kind:
            flush_paragraph()
            if list_kind != kind:
                close_list()
                out.append(f"<{kind}>")
                list_kind = kind
            out.append("<li>" + inline(item) + "</li>")
            continue
        close_list()
        paragraph.append(stripped)
    if in_code:
        out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
    flush_paragraph()
    close_list()
    return "\n".join(out)


def table(rows, header=True, align=None):
    """Render rows (lists of cells) as a Markdown table with padded columns.

    `align` is a list of "left", "right" or "center", one per column.
    """
    if not rows:
        return ""
    cells = [[str(cell) for cell in row] for row in rows]
    columns = max(len(row) for row in cells)
    for row in cells:
        row.extend([""] * (columns - len(row)))
    widths = [max(3, max(len(row[i]) for row in cells)) for i in range(columns)]
    align = align or ["left"] * columns

    def fmt(row):
        padded = []
        for cell, width, how in zip(row, widths, align):
            if how == "right":
                padded.append(cell.rjust(width))
            elif how == "center":
                padded.append(cell.center(width))
            else:
                padded.append(cell.ljust(width))
        return "| " + " | ".join(padded) + " |"

    lines = [fmt(cells[0])]
    body = cells[1:] if header else cells
    if header:
        rule = []
        for width, how in zip(widths, align):
            dashes = "-" * width
            if how == "right":
                dashes = dashes[:-1] + ":"
            elif how == "center":
                dashes = ":" + dashes[1:-1] + ":"
            rule.append(dashes)
        lines.append("| " + " | ".join(rule) + " |")
    else:
        lines = []
    lines.extend(fmt(row) for row in body)
    return "\n".join(lines)
