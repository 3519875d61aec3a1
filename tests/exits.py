"""The command line's exit code 2: one message on stderr, naming what the user got wrong."""

from __future__ import annotations

from vanishing import cli


def fails(argv: list[str], capsys, *words: str) -> str:
    """Run ``vanishing ARGV``; check it exits 2 with one error message holding every word."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vanishing: error: ")
    for word in words:
        assert word in err, (word, err)
    return err
