"""What a user sees of a refused command: one line on stderr, no traceback."""

from __future__ import annotations


def one_error_line(capsys) -> str:
    """The single line the command wrote to stderr (asserting it is one, without a traceback)."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]
