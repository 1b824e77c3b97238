"""Every command of the command line is documented in the README (sqlite-utils' habit)."""

from __future__ import annotations

from pathlib import Path

import typer
import typer.main

from tools.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


#: Commands that take no ``--option`` (besides --help), so the check above cannot go vacuous.
NO_OPTIONS = {"device init", "device release-quarantine", "build-reference"}


def command_names(group: typer.Typer, prefix: str = "") -> list[str]:
    names = [
        f"{prefix}{c.name or c.callback.__name__.replace('_', '-')}"
        for c in group.registered_commands
    ]
    for sub in group.registered_groups:
        names += command_names(sub.typer_instance, f"{prefix}{sub.name} ")
    return names


def test_every_command_is_in_the_readme_with_its_options():
    names = command_names(app)
    assert len(names) >= 20
    missing = [n for n in names if f"realty-edge {n}" not in README]
    assert not missing, f"not documented in README.md: {missing}"
    root = typer.main.get_command(app)
    undocumented = {}
    for name in names:
        command = root
        for part in name.split():
            command = command.commands[part]  # typer's own click: a group has .commands
        options = [o for p in command.params if p.param_type_name == "option" for o in p.opts]
        assert options or name in NO_OPTIONS, f"{name}: no options found; is the walk broken?"
        absent = [o for o in options if o.startswith("--") and o != "--help" and o not in README]
        if absent and not command.hidden:
            undocumented[name] = absent
    assert not undocumented, f"options not in README.md: {undocumented}"


def test_the_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
