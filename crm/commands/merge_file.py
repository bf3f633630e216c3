"""crm merge-file: git's merge driver for record files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm import output


def merge_file(
    base: Annotated[Path, typer.Argument(help="The common ancestor (git's %O).", dir_okay=False)],
    ours: Annotated[
        Path, typer.Argument(help="Our version (%A): the merge is written here.", dir_okay=False)
    ],
    theirs: Annotated[Path, typer.Argument(help="Their version (%B).", dir_okay=False)],
    path: Annotated[
        str | None,
        typer.Argument(help="The record's path in the repository (%P): tells its type."),
    ] = None,
) -> None:
    """Three-way merge of a record file, field by field, written over OURS.

    Git runs this for the record folders named in .gitattributes (`crm hooks install`
    registers it). Fields changed on one side take that side; nested mappings (address,
    custom) merge key by key; tags, emails, phones and lists of ids merge both sides'
    additions and removals; history, payments and reminders merge entry by entry (an entry
    one side took back or corrected is taken back or corrected, both sides' new entries are
    kept); `updated` takes the later time. Our comments, line ends and formatting stay; their
    new comments go where they wrote them. A field or entry changed both ways is a conflict,
    and so is a comment of theirs that cannot be placed beside our changes: git's markers go
    around those lines only, and the exit status is 1. A file that is not a mapping of fields
    is merged line by line, as git would.

    \b
    Examples:
      git config merge.crm.driver "crm merge-file %O %A %B %P"
      crm merge-file base.yaml ours.yaml theirs.yaml deals/acme-redesign.yaml
    """
    from crm.store import atomic, merge3

    merged = merge3.merge_files(base.read_bytes(), ours.read_bytes(), theirs.read_bytes(), path)
    atomic.write_bytes(ours, merged.data)
    where = path or str(ours)
    if merged.as_text:
        verdict = "conflicts marked" if merged.conflicts else "merged cleanly"
        output.info(f"{where}: merged line by line ({merged.reason}): {verdict}")
    elif merged.conflicts:
        output.info(f"{where}: both sides changed {', '.join(merged.conflicts)}")
    if merged.comments:
        output.info(
            f"{where}: their comments could not be placed beside our changes: "
            "marked, to keep or delete"
        )
    if not merged.clean:
        raise typer.Exit(1)
