"""The `mmn-assistant` command: build the index, ask questions, serve the web app.

Each command parses its options, calls the core and prints; heavy libraries are imported
inside the commands so that `--help` is instant. The commands live beside this module, one
module a task (`index`, `answers`, `serve`, `feedback`); this one makes the group.
"""

from __future__ import annotations

import sys

import click

from assistant.cli import answers, editors, examples, feedback, index, serve
from assistant.cli.common import CommandGroup
from assistant.settings import SettingsError, current, documented


def _settings_help() -> str:
    rows = "\n".join(f"  {name:<22} {default:<8} {what}" for name, default, what in documented())
    return f"\b\nSettings (environment variables, checked at start):\n{rows}"


@click.group(cls=CommandGroup, epilog=_settings_help())
@click.version_option(package_name="mmn-assistant")
def cli() -> None:
    """Answer clinicians' questions with cited passages from reviewed articles.

    An extractive reference aid for healthcare professionals: every answer quotes the
    article and carries its professional disclaimer. It is not medical advice.
    """


for command in (index.build, index.status, answers.ask, serve.serve, answers.evaluate):
    cli.add_command(command)
cli.add_command(feedback.feedback)
cli.add_command(examples.examples)
cli.add_command(editors.editors)


def main() -> None:
    """The command's entry point: the settings are checked once, before anything else; a bad
    `MMN_*` value is one line and exit status 2, as a bad option is."""
    for stream in (sys.stdout, sys.stderr):  # a terminal or file in Latin-1 or cp1252: an
        if hasattr(stream, "reconfigure"):  # article's "—" is written as \u2014, not a crash
            stream.reconfigure(errors="backslashreplace")
    try:
        current()
    except SettingsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    cli(prog_name="mmn-assistant")
