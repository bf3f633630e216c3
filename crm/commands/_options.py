"""What every command module shares: the error boundary and the common options."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from crm import output
from crm.commands import _complete
from crm.context import settings
from crm.errors import CrmError, take_notices
from crm.output import Format

F = TypeVar("F", bound=Callable[..., Any])

APP_SETTINGS: dict[str, Any] = {
    "rich_markup_mode": None,  # plain help: Rich would add ~40 ms to every --help
    "pretty_exceptions_enable": False,
    "pretty_exceptions_show_locals": False,  # locals hold customers' personal data
    "context_settings": {"help_option_names": ["-h", "--help"]},
}


def guarded(fn: F) -> F:
    """Turn every error into `Error: <message>` on stderr and its exit code.

    A traceback only with --debug (or CRM_DEBUG=1).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return _run(fn, *args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except CrmError as exc:
            if settings().debug:
                raise
            output.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            output.info("Interrupted; nothing was written.")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            raise  # the reader went away (`| head`): main() exits quietly
        except OSError as exc:
            if settings().debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            output.error(f"{where}{exc.strerror or exc}")
            raise typer.Exit(1) from None
        except Exception as exc:
            if settings().debug:
                raise
            output.error(f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(...)`, then the notices raised below the command layer, as warnings."""
    try:
        return fn(*args, **kwargs)
    finally:
        for message in take_notices():
            output.warn(message)


class CrmTyper(typer.Typer):
    """A Typer whose commands all pass through `guarded`, so none can forget it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**APP_SETTINGS, "no_args_is_help": True, **kwargs})

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        register = super().command(*args, **kwargs)

        def decorator(fn: F) -> F:
            register(guarded(fn))
            return fn

        return decorator


def interactive() -> bool:
    """Whether a person is there to answer a prompt."""
    return sys.stdin.isatty() and sys.stdout.isatty()


RefArg = Annotated[
    str,
    typer.Argument(help="Id, unique id prefix, email or name.", autocompletion=_complete.record),
]
FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        help="table, json, jsonl, csv, tsv, yaml or ids. "
        "Default: $CRM_FORMAT, else table on a terminal and tsv in a pipe.",
        case_sensitive=False,
        show_default=False,
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Print the changes as a diff; write nothing.")
]
WhereOpt = Annotated[
    str | None,
    typer.Option(
        "--where",
        "-w",
        help='Filter, e.g. "stage=proposal and value>=1000" (docs/cli.md#filters).',
        show_default=False,
    ),
]
SortOpt = Annotated[
    str | None,
    typer.Option(
        "--sort", "-s", help="Sort by FIELD; -FIELD sorts descending.", show_default=False
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", "-l", min=1, help="Show at most N records.", show_default=False),
]
TagFilterOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        "-t",
        help="Only records with this tag (repeatable: all must match).",
        autocompletion=_complete.tag,
    ),
]
SegmentOpt = Annotated[
    str | None,
    typer.Option("--segment", help="Only records in this segment (crm.yaml `segments:`)."),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option("--tag", "-t", help="A tag (repeatable).", autocompletion=_complete.tag),
]
# For commands where -t means --type (log, activity list).
LongTagOpt = Annotated[
    list[str] | None,
    typer.Option("--tag", help="A tag (repeatable).", autocompletion=_complete.tag),
]
LongTagFilterOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        help="Only records with this tag (repeatable: all must match).",
        autocompletion=_complete.tag,
    ),
]
FieldOpt = Annotated[
    list[str] | None,
    typer.Option("--field", help="A custom field declared in crm.yaml, as KEY=VALUE (repeatable)."),
]
IdOpt = Annotated[
    str | None,
    typer.Option("--id", help="Use this id instead of one made from the name.", show_default=False),
]
NotesOpt = Annotated[str | None, typer.Option("--notes", help="Notes (use - to read stdin).")]
EmailOpt = Annotated[list[str] | None, typer.Option("--email", "-e", help="Email (repeatable).")]
PhoneOpt = Annotated[list[str] | None, typer.Option("--phone", "-p", help="Phone (repeatable).")]
StreetOpt = Annotated[str | None, typer.Option("--street", help="Address: street and number.")]
PostcodeOpt = Annotated[str | None, typer.Option("--postcode", help="Address: postal code.")]
CityOpt = Annotated[str | None, typer.Option("--city", help="Address: city.")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Address: state or region.")]
CountryOpt = Annotated[str | None, typer.Option("--country", help="Address: country.")]
