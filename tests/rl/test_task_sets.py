"""The run's task sets: a task file keeps every row with hints on, and its hint is hints_text."""
import importlib.util
import json
import os

from swejax.rl.task_sets import TaskSets

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
PUBLISHED = os.path.join(ROOT, "tests", "tasks", "data", "published")


def _config(variant="smoke"):
  spec = importlib.util.spec_from_file_location("demo_config",
                                                os.path.join(ROOT, "configs", "demo.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def test_hints_keep_every_row_of_a_task_file_and_append_its_hints_text(tmp_path):
  with open(os.path.join(PUBLISHED, "swe-bench.jsonl"), encoding="utf-8") as handle:
    rows = [json.loads(line) for line in handle if line.strip()]
  for i, row in enumerate(rows[::2]):
    row["hints_text"] = f"Look at the {i}th call site.\n"
  path = tmp_path / "tasks.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  config = _config()
  config.tasks.path = str(path)
  config.tasks.hints, config.tasks.eval_n = True, 2
  data = TaskSets(config, "unused")
  tasks = data.pool + data.held_out
  assert len(tasks) == len(rows)
  with_hints = [t for t in tasks if t.hints_text.strip()]
  assert len(with_hints) == len(rows[::2])
  for task in with_hints:
    statement = data.problem_statement(task)
    assert statement.startswith(task.problem_statement.rstrip())
    assert task.hints_text.strip() in statement
  assert data.scripted_kwargs() == {}  # the demo's scripted plan needs a one-line fix
  config.tasks.hints = False
  assert all(data.problem_statement(t) == t.problem_statement for t in tasks)


def test_embedded_tasks_with_hints_keep_the_demo_hint():
  config = _config()
  data = TaskSets(config, "unused")
  assert all(data.problem_statement(t) != t.problem_statement for t in data.pool[:5])
  assert "plan" in data.scripted_kwargs()
