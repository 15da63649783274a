"""SWE-bench-format tasks: loading, filtering, honest grading, synthetic tasks.

    tasks = load_tasks("tasks.jsonl")            # or .parquet; every bad row reported
    result = grade(tasks[0], patch)               # fresh sandbox; .resolved, .infra_error
    statuses = parse_pytest_log(log_text)         # {test id: status}
"""
from swejax.tasks.filters import FilterConfig, filter_tasks
from swejax.tasks.grading import GradeResult, grade
from swejax.tasks.loader import TaskLoadError, load_tasks, save_tasks
from swejax.tasks.logparse import parse_pytest_log
from swejax.tasks.repo import prepare_repo
from swejax.tasks.schema import Task

__all__ = [
    "FilterConfig", "GradeResult", "Task", "TaskLoadError", "filter_tasks", "grade",
    "load_tasks", "parse_pytest_log", "prepare_repo", "save_tasks",
]
