from textkit.markdown import heading, inline, render, table


def test_inline_strong_and_em():
    assert inline("**bold** and *it*") == "<strong>bold</strong> and <em>it</em>"


def test_inline_code_and_escape():
    assert inline("use `a<b` & co") == "use <code>a&lt;b</code> &amp; co"


def test_inline_link():
    assert inline("see [docs](http://x.io/a)") == 'see <a href="http://x.io/a">docs</a>'


def test_heading_levels():
    assert heading("### Title ###") == (3, "Title")


def test_heading_needs_space():
    assert heading("#hashtag") is None


def test_heading_too_deep():
    assert heading("####### seven") is None


def test_render_heading_and_paragraph():
    assert render("# Hi\nsome\ntext") == "<h1>Hi</h1>\n<p>some text</p>"


def test_render_unordered_list():
    assert render("- a\n- b") == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"


def test_render_ordered_list():
    assert render("1. one\n2) two") == "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"


def test_render_list_kind_switch():
    assert render("- a\n1. b") == "<ul>\n<li>a</li>\n</ul>\n<ol>\n<li>b</li>\n</ol>"


def test_render_paragraphs_split_by_blank_line():
    assert render("a\n\nb") == "<p>a</p>\n<p>b</p>"


def test_render_code_block():
    assert render("```\nx < 1\n```") == "<pre><code>x &lt; 1</code></pre>"


def test_render_unclosed_code_block():
    assert render("```\ncode") == "<pre><code>code</code></pre>"


def test_table_padded():
    assert table([["a", "bb"], ["ccc", "d"]]) == (
        "| a   | bb  |\n| --- | --- |\n| ccc | d   |"
    )


def test_table_alignment():
    assert table([["n", "v"], ["x", "10"]], align=["left", "right"]) == (
        "| n   |   v |\n| --- | --: |\n| x   |  10 |"
    )


def test_table_center():
    assert table([["h"], ["abcde"]], align=["center"]) == (
        "|   h   |\n| :---: |\n| abcde |"
    )


def test_table_ragged_rows():
    assert table([["a", "b"], ["c"]]) == "| a   | b   |\n| --- | --- |\n| c   |     |"


def test_table_without_header():
    assert table([["a"], ["b"]], header=False) == "| a   |\n| b   |"


def test_table_empty():
    assert table([]) == ""
