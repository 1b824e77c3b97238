"""Every command of the command line is documented in the README (sqlite-utils' habit)."""

from __future__ import annotations

from pathlib import Path

import typer

from tools.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def command_names(group: typer.Typer, prefix: str = "") -> list[str]:
    names = [
        f"{prefix}{c.name or c.callback.__name__.replace('_', '-')}"
        for c in group.registered_commands
    ]
    for sub in group.registered_groups:
        names += command_names(sub.typer_instance, f"{prefix}{sub.name} ")
    return names


def test_every_command_is_in_the_readme():
    names = command_names(app)
    assert len(names) >= 20
    missing = [n for n in names if n.split()[-1] not in README]
    assert not missing, f"not documented in README.md: {missing}"


def test_the_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
