"""What the commands share: the error handling of their group, the options naming the corpus,
the index and the model, and the model as the settings run it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.errors import AssistantError, os_problem
from assistant.settings import current


def as_json(data: Any) -> str:
    """`--json` output: non-ASCII as itself on a UTF-8 stdout, as JSON's own escapes on any
    other (a cp1252 or Latin-1 one would otherwise escape an emoji as Python does, \\U0001f600,
    which is not JSON)."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return json.dumps(data, indent=2, ensure_ascii=encoding not in ("utf8", "utf8sig"))


class OneLineUsageError(click.UsageError):
    """A misused option or argument said in one line, as every other error is (exit status 2):
    click's own prints the usage, a hint and a blank line before it."""

    def show(self, file: Any = None) -> None:
        where = f"`{self.ctx.command_path} --help`" if self.ctx else "--help"
        click.echo(f"Error: {self.format_message()} (see {where})", err=True)


class CommandGroup(click.Group):
    """Turns the core's errors into a one-line message and exit status 1, never a traceback;
    a misused option is one line too, with exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OneLineUsageError, click.exceptions.NoArgsIsHelpError):
            raise  # a group run bare prints its help, on stdout
        except click.UsageError as exc:
            raise OneLineUsageError(exc.format_message(), exc.ctx) from exc
        except AssistantError as exc:
            raise click.ClickException(str(exc)) from exc
        except BrokenPipeError:
            raise
        except OSError as exc:  # a disk full, a folder it may not write: said, not a traceback
            raise click.ClickException(os_problem(exc)) from exc


corpus_option = click.option(
    "--corpus-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: current().corpus_dir,
    show_default="corpus, or MMN_CORPUS_DIR",
    help="Directory of article files.",
)
index_option = click.option(
    "--index-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: current().index_dir,
    show_default="index, or MMN_INDEX_DIR",
    help="Directory the index versions are written to and read from.",
)
model_option = click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=lambda: current().model,
    help="A local sentence-transformers model directory (default: the packaged all-MiniLM-L6-v2, "
    "whose weights are checked against the official hash).",
)


feedback_option = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=lambda: current().feedback_db,
    show_default="data/feedback.sqlite3, or MMN_FEEDBACK_DB",
    help="The feedback store.",
)


def embedder(model_path: Path | None, index_dir: Path) -> Any:  # a SentenceTransformerEmbedder
    """The model, with its ONNX export kept beside the index it serves (unless
    MMN_MODEL_EXPORT_DIR says where)."""
    from assistant.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder.configured(
        current(), model_path, export_dir=index_dir / "models"
    )


def shell_user() -> str:
    """Who the audit trail names for a command run in a shell."""
    import getpass

    try:
        return f"{getpass.getuser()} (shell)"
    except (KeyError, OSError):
        return "shell"
