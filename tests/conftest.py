"""Helpers every test folder may use."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass
class FreshRun:
    """A `cloudward` command run in a fresh interpreter: its exit status, output, and the modules it loaded."""

    code: int
    stdout: str
    stderr: str
    modules: list[str]

    def loaded(self, *names: str) -> list[str]:
        """The loaded modules that are one of `names` or inside one of them."""
        return sorted(m for m in self.modules if any(m == n or m.startswith(n + ".") for n in names))


_PROGRAM = """import json, sys
from cloudward.cli import main
sys.argv = ['cloudward', *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
sys.stderr.write('\\n' + json.dumps({'code': code, 'modules': sorted(sys.modules)}))
"""


@pytest.fixture
def fresh_cli() -> Callable[..., FreshRun]:
    """Start-up tests need an interpreter that has imported nothing yet: `fresh_cli('scan', path)`."""

    def run(*args: str) -> FreshRun:
        done = subprocess.run([sys.executable, "-c", _PROGRAM, json.dumps(list(args))], capture_output=True,
                              text=True)
        stderr, _, report = done.stderr.rpartition("\n")
        try:
            facts = json.loads(report)
        except json.JSONDecodeError:
            raise AssertionError(f"the command crashed: {done.stderr}") from None
        return FreshRun(facts["code"], done.stdout, stderr, facts["modules"])

    return run
