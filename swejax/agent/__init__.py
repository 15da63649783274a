"""The paper's agent scaffold: special commands, prompts, action parser, episode env.

Conventions (the paper leaves them open; these are swejax's choices):
- An action is reasoning, then exactly one ```command block, then nothing; anything
  else is a format error whose message is the observation (see parser.py).
- `edit START:END` replaces the inclusive range; `START:START-1` inserts before
  START (`N+1:N` appends); an empty heredoc deletes.
- An observation is the output (head + tail beyond `max_output_chars`, with the
  number of characters cut), then `(Exit code: N)` when N != 0 or
  `(Command timed out after T seconds and was killed.)`, then the prompt line
  `(Current directory: <dir>, current file: <file>) bash-$`.
- The working directory and exported variables persist between commands; the
  scaffold's state lives outside the repository (default /tmp/swejax) and never
  enters the patch.
"""
from swejax.agent.env import AgentEnv, StepResult, tools_source
from swejax.agent.parser import ParsedAction, format_action, parse_action
from swejax.agent.prompts import first_message, prompt_line, system_prompt
from swejax.agent.scripted import ScriptedAction, actions_for_task, run_actions, scripted_actions

__all__ = [
    "AgentEnv", "ParsedAction", "ScriptedAction", "StepResult", "actions_for_task",
    "first_message", "format_action", "parse_action", "prompt_line", "run_actions",
    "scripted_actions", "system_prompt", "tools_source",
]
