"""`mailferry completion bash|zsh`: the shell completion script (click's own), to source.

    eval "$(mailferry completion bash)"     # in ~/.bashrc
    eval "$(mailferry completion zsh)"      # in ~/.zshrc
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

COMPLETE_VAR = "_MAILFERRY_COMPLETE"  # what click reads when the shell asks


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def completion(shell: str) -> int:
    """Print the shell completion script for bash or zsh (eval it in your shell's rc)."""
    from mailferry.cli import cli

    complete = get_completion_class(shell)
    assert complete is not None  # both are click's own
    click.echo(complete(cli, {}, "mailferry", COMPLETE_VAR).source())
    return 0
