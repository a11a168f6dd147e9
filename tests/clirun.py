"""Running the ``kernelwise`` command in the test's process, and what a user's mistake must look like."""

from __future__ import annotations

import pytest

from kernelwise.cli import main


def cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """Run ``kernelwise ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse: --help (0) and usage errors (2)
        code = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, fragment: str) -> str:
    """A failed command whose stderr is one line, no traceback, holding ``fragment``; return that line."""
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert fragment in lines[0], lines[0]
    return lines[0]
