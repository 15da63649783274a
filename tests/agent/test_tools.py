"""The special commands, run for real inside a sandbox, on real files."""
import re

import pytest

BIG = "".join(f"line {i}\n" for i in range(1, 251))
FILES = {
    "big.txt": BIG,
    "small.py": "def f(x):\n    return x + 1\n\n\ndef g(x):\n    return x * 2\n",
    "pkg/mod.py": "A = 1\nB = 2\nA = 3\n",
}


def numbered(observation: str) -> list[int]:
  """The line numbers a window shows."""
  return [int(m) for m in re.findall(r"^(\d+):", observation, re.M)]


@pytest.fixture
def ep(make_episode):
  return make_episode(FILES)


def test_open_shows_a_numbered_window_from_the_top(ep):
  r = ep.act("open big.txt")
  assert r.exit_code == 0
  assert f"[File: {ep.repo}/big.txt (250 lines total)]" in r.observation
  assert numbered(r.observation) == list(range(1, 101))
  assert "1:line 1\n" in r.observation and "100:line 100\n" in r.observation
  assert "(150 more lines below)" in r.observation
  assert "more lines above" not in r.observation
  assert r.observation.endswith(f"current file: {ep.repo}/big.txt) bash-$")


def test_open_at_a_line_centres_the_window(ep):
  r = ep.act("open big.txt 120")
  assert numbered(r.observation) == list(range(70, 170))
  assert "(69 more lines above)" in r.observation and "(81 more lines below)" in r.observation
  near_end = ep.act("open big.txt 240")
  assert numbered(near_end.observation) == list(range(151, 251))  # a full window at the end


def test_open_errors(ep):
  missing = ep.act("open nope.txt")
  assert missing.exit_code == 1 and "File not found" in missing.observation
  directory = ep.act("open pkg")
  assert directory.exit_code == 1 and "is a directory" in directory.observation
  out_of_range = ep.act("open big.txt 999")
  assert out_of_range.exit_code == 1 and "valid: 1-250" in out_of_range.observation
  assert "current file: n/a" in out_of_range.observation  # nothing was opened


def test_scroll_moves_by_a_window_and_stops_at_both_ends(ep):
  ep.act("open big.txt")
  top = ep.act("scroll_up")
  assert "(Already at the top of the file.)" in top.observation
  assert numbered(top.observation) == list(range(1, 101))
  down = ep.act("scroll_down")
  assert numbered(down.observation) == list(range(99, 199))  # two lines of overlap
  last = ep.act("scroll_down")
  assert numbered(last.observation) == list(range(151, 251))
  bottom = ep.act("scroll_down")
  assert "(Already at the bottom of the file.)" in bottom.observation
  assert numbered(bottom.observation) == list(range(151, 251))
  up = ep.act("scroll_up")
  assert numbered(up.observation) == list(range(53, 153))


def test_scroll_without_open_file(ep):
  r = ep.act("scroll_down")
  assert r.exit_code == 1 and "No file is open" in r.observation


def test_goto_in_and_out_of_range(ep):
  assert "No file is open" in ep.act("goto 5").observation
  ep.act("open big.txt")
  assert numbered(ep.act("goto 200").observation) == list(range(150, 250))
  for bad in ("0", "251"):
    r = ep.act(f"goto {bad}")
    assert r.exit_code == 1
    assert f"Line {bad} is out of range" in r.observation and "valid: 1-250" in r.observation
  assert "must be an integer" in ep.act("goto x").observation
  assert numbered(ep.act("open").observation) == list(range(150, 250))  # unchanged by errors


def test_edit_replaces_an_inclusive_range_and_shows_it(ep):
  ep.act("open pkg/mod.py")
  r = ep.act("edit 2:3 << 'EOF'\nB = 20\nC = 30\nD = 40\nEOF")
  assert r.exit_code == 0
  assert ep.read("pkg/mod.py") == "A = 1\nB = 20\nC = 30\nD = 40\n"
  assert f"File updated: {ep.repo}/pkg/mod.py: replaced lines 2-3" in r.observation
  assert "1:A = 1\n2:B = 20\n3:C = 30\n4:D = 40" in r.observation


def test_edit_inserts_at_top_and_end_and_deletes(ep):
  ep.act("open pkg/mod.py")
  ep.act("edit 1:0 << 'EOF'\n# top\nEOF")
  assert ep.read("pkg/mod.py") == "# top\nA = 1\nB = 2\nA = 3\n"
  r = ep.act("edit 5:4 << 'EOF'\n# end\nEOF")
  assert "inserted 1 line before line 5" in r.observation
  assert ep.read("pkg/mod.py") == "# top\nA = 1\nB = 2\nA = 3\n# end\n"
  r = ep.act("edit 2:3 << 'EOF'\nEOF")
  assert "deleted lines 2-3" in r.observation
  assert ep.read("pkg/mod.py") == "# top\nA = 3\n# end\n"


def test_edit_keeps_dollars_and_indentation_with_a_quoted_heredoc(ep):
  ep.act("open small.py")
  ep.act("edit 2:2 << 'EOF'\n    return f\"$x {x}\" + `y`\nEOF")
  assert ep.read("small.py").split("\n")[1] == "    return f\"$x {x}\" + `y`"


def test_edit_errors(ep):
  assert "No file is open" in ep.act("edit 1:1 << 'EOF'\nx\nEOF").observation
  ep.act("open pkg/mod.py")
  bad = ep.act("edit 3:1 << 'EOF'\nx\nEOF")
  assert bad.exit_code == 1 and "Invalid range 3:1" in bad.observation
  assert "4:3 to append" in bad.observation
  assert "Invalid range 2:9" in ep.act("edit 2:9 << 'EOF'\nx\nEOF").observation
  no_text = ep.act("edit 1:1")
  assert no_text.exit_code == 1 and "heredoc" in no_text.observation
  assert "Missing the line range" in ep.act("edit << 'EOF'\nx\nEOF").observation
  assert ep.read("pkg/mod.py") == FILES["pkg/mod.py"]


def test_edit_file_flag_targets_and_opens_another_file(ep):
  ep.act("open big.txt")
  r = ep.act("edit --file pkg/mod.py 1:1 << 'EOF'\nA = 100\nEOF")
  assert ep.read("pkg/mod.py") == "A = 100\nB = 2\nA = 3\n"
  assert f"current file: {ep.repo}/pkg/mod.py)" in r.observation


def test_edit_warns_when_python_stops_parsing(ep):
  ep.act("open small.py")
  r = ep.act("edit 1:1 << 'EOF'\ndef f(x)\nEOF")
  assert "no longer parses as Python" in r.observation and "line 1" in r.observation
  fine = ep.act("edit 1:1 << 'EOF'\ndef f(x):\nEOF")
  assert "parses" not in fine.observation


def test_replace_unique_multiple_and_all(ep):
  ep.act("open pkg/mod.py")
  many = ep.act("replace 'A = ' 'Z = '")
  assert many.exit_code == 1 and "occurs 2 times" in many.observation
  assert "lines 1, 3" in many.observation
  one = ep.act("replace 'B = 2' 'B = 22'")
  assert one.exit_code == 0 and ep.read("pkg/mod.py") == "A = 1\nB = 22\nA = 3\n"
  assert "2:B = 22" in one.observation and "replaced 1 occurrence (on line 2)" in one.observation
  every = ep.act("replace --replace-all 'A = ' 'Z = '")
  assert "replaced 2 occurrences (on lines 1, 3)" in every.observation
  assert ep.read("pkg/mod.py") == "Z = 1\nB = 22\nZ = 3\n"
  missing = ep.act("replace 'nothing here' x")
  assert missing.exit_code == 1 and "not found" in missing.observation


def test_replace_multiline_search(ep):
  ep.act("open small.py")
  ep.act("replace $'def f(x):\\n    return x + 1' $'def f(x):\\n    y = x\\n    return y + 1'")
  assert ep.read("small.py").startswith("def f(x):\n    y = x\n    return y + 1\n\n")


def test_search_file(ep):
  r = ep.act("search_file 'line 25' big.txt")
  assert f"Found 2 matches for 'line 25' in {ep.repo}/big.txt:" in r.observation
  assert "Line 25: line 25\nLine 250: line 250\nEnd of matches" in r.observation
  ep.act("open pkg/mod.py")
  assert "Line 1: A = 1" in ep.act("search_file 'A ='").observation  # the open file
  none = ep.act("search_file zebra")
  assert none.exit_code == 0 and "No matches found for 'zebra'" in none.observation


def test_search_file_needs_a_file(ep):
  r = ep.act("search_file x")
  assert r.exit_code == 1 and "No file is open" in r.observation


def test_create_new_and_existing(ep):
  r = ep.act("create src/new_mod.py")
  assert r.exit_code == 0 and "0 lines total" in r.observation
  assert f"current file: {ep.repo}/src/new_mod.py)" in r.observation
  ep.act("edit 1:1 << 'EOF'\nX = 1\nEOF")  # 1:1 on an empty file writes the first lines
  assert ep.read("src/new_mod.py") == "X = 1\n"
  again = ep.act("create small.py")
  assert again.exit_code == 1 and "File already exists" in again.observation
  assert ep.read("small.py") == FILES["small.py"]


def test_create_with_heredoc_content(ep):
  ep.act("create notes.txt << 'EOF'\nhello\nEOF")
  assert ep.read("notes.txt") == "hello\n"


def test_open_state_survives_cd(ep):
  ep.act("open pkg/mod.py")
  r = ep.act("cd /")
  assert f"current file: {ep.repo}/pkg/mod.py)" in r.observation
  assert numbered(ep.act("goto 2").observation) == [1, 2, 3]


def test_tools_work_in_subshells(ep):
  r = ep.act("bash -c 'open pkg/mod.py 2' | head -3")
  assert "1:A = 1" in r.observation


def test_submit_rejects_arguments(ep):
  r = ep.act("submit now")
  assert r.exit_code == 1 and not r.submitted and not r.done
  done = ep.act("submit")
  assert done.submitted and done.done and ep.env.termination == "submit"


def test_tools_ignore_a_repo_that_shadows_stdlib_modules(make_episode):
  ep = make_episode({"json.py": "raise SystemExit('shadowed!')\n", "os.py": "x = 1\n"})
  ep.act(f"export PYTHONPATH={ep.repo}")
  r = ep.act("open os.py")
  assert r.exit_code == 0 and "1:x = 1" in r.observation and "shadowed" not in r.observation


def test_non_ascii_text_round_trips_under_the_c_locale(make_episode):
  ep = make_episode({"u.txt": "größe = 'ß'\n"})
  ep.act("export LC_ALL=C LANG=C PYTHONIOENCODING=ascii")
  assert "1:größe = 'ß'" in ep.act("open u.txt").observation
  ep.act("edit 2:1 << 'EOF'\nnaïve = '✓'\nEOF")
  assert ep.read("u.txt") == "größe = 'ß'\nnaïve = '✓'\n"
