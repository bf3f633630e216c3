"""crm export: the data in other programs' formats."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from crm.commands._options import CrmTyper
from crm.commands._records import done, scan
from crm.context import app_context
from crm.errors import UsageError
from crm.models import ACTIVITY, COMPANY, CONTACT, DEAL, LEAD, TASK

app = CrmTyper()


@app.command("ical")
def ical(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write one .ics file here (default: stdout).", show_default=False
        ),
    ] = None,
    vdir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Write a vdir: one .ics per task or meeting (khal, todoman).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Open tasks as to-dos and meetings as events, for a calendar or task app.

    UIDs never change, so exporting again updates the entries instead of duplicating them.
    In a vdir, the files of tasks done since the last export are removed.

    \b
    Examples:
      crm export ical --out ~/crm.ics
      crm export ical --dir ~/.calendars/crm
    """
    from crm import ical as calendar
    from crm.store import atomic

    if out is not None and vdir is not None:
        raise UsageError("choose --out or --dir, not both")
    ctx = app_context()
    contacts = scan(ctx, CONTACT)
    names = {
        r.id: r.title
        for rtype in (CONTACT, COMPANY, LEAD, DEAL)
        for r in (contacts if rtype is CONTACT else scan(ctx, rtype, quiet=True))
    }
    items = calendar.components(scan(ctx, TASK), scan(ctx, ACTIVITY), contacts, names)
    if vdir is None:
        data = calendar.calendar([item for _, item in items])
        if out is None:
            sys.stdout.buffer.write(data)
        else:
            atomic.write_bytes(out, data)
        return
    vdir.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for item_uid, item in items:
        wanted[f"{item_uid.removesuffix('@crm')}.ics"] = calendar.calendar([item])
    written = removed = 0
    for name, data in wanted.items():
        path = vdir / name
        if not path.exists() or path.read_bytes() != data:
            atomic.write_bytes(path, data)
            written += 1
    for stale in vdir.glob("*.ics"):
        if stale.name in wanted or not stale.name.startswith(("task-", "activity-")):
            continue
        if b"X-CRM-ID:" in stale.read_bytes():  # only entries crm wrote
            stale.unlink()
            removed += 1
    done(f"{len(wanted)} entries in {vdir}: {written} written, {removed} removed")
