"""The options every `taskq` command takes, before or after its name: --url, --token and --json."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any, Concatenate, ParamSpec

import typer

from services.cli.client import Client

DEFAULT_URL = "http://localhost:8080"
PANEL = "Global options (before or after the command)"

P = ParamSpec("P")

# One definition serves both places: `taskq --url U list` and `taskq list --url U`.
Url = Annotated[
    str,
    typer.Option(
        "--url", envvar="TASKQ_URL", help="Base URL of the taskq API.", rich_help_panel=PANEL
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="TASKQ_API_TOKEN",
        help="Bearer token, if the API has one.",
        rich_help_panel=PANEL,
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print JSON (for scripts).", rich_help_panel=PANEL)
]
CONTEXT = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
GLOBAL_PARAMETERS = (
    inspect.Parameter("url", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_URL, annotation=Url),
    inspect.Parameter("token", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Token),
    inspect.Parameter("json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Json),
)


@dataclass(frozen=True)
class Options:
    """Where the API is, how to authenticate, and whether to print JSON."""

    url: str = DEFAULT_URL
    token: str | None = None
    json: bool = False

    def client(self) -> Client:
        return Client(self.url, self.token)


def typed(ctx: typer.Context, name: str) -> bool:
    """Whether the option `name` was typed on the command line (not taken from env or default)."""
    source = ctx.get_parameter_source(name)
    # by name: recent typer vendors its own click, whose ParameterSource is not click's
    return source is not None and source.name == "COMMANDLINE"


def accepts_options(command: Callable[Concatenate[Options, P], None]) -> Callable[P, None]:
    """Gives `command` the global options, and calls it with them merged into one `Options`.

    On the group callback they are read as given (command line, then environment, then default).
    On a command, only an option typed after its name counts, and it wins over the one before.
    """
    signature = inspect.signature(command, eval_str=True)
    own = list(signature.parameters.values())[1:]  # the first is the Options it is handed

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        ctx: typer.Context = kwargs.pop(CONTEXT.name)
        given = {p.name: kwargs.pop(p.name) for p in GLOBAL_PARAMETERS}
        before = ctx.find_object(Options)
        if before is None:
            options = Options(**given)
        else:
            typed_after = {name: value for name, value in given.items() if typed(ctx, name)}
            options = replace(before, **typed_after)
        ctx.obj = options
        command(options, *args, **kwargs)

    parameters = [*own, CONTEXT, *GLOBAL_PARAMETERS]
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return run
