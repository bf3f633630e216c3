"""crm fmt: records in the canonical form."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm.commands._options import DryRunOpt

if TYPE_CHECKING:
    from crm.models import Kind, RecordType
    from crm.store.canonical import FileResult
    from crm.store.repo import Store


def fmt(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Record types (contact, invoices) or record files and folders; "
            "default: every record.",
            metavar="[TYPE-or-PATH]...",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="List the files not in canonical form; write nothing; exit 1 if any."
        ),
    ] = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Rewrite records in the canonical form: the form crm itself writes (key order, quoting,
    dates, indentation), keeping every comment beside the key it belongs to.

    The data never changes: a file that would read differently afterwards is left as it is
    and reported, as is one that cannot be read (`path:line: message`, exit 1). So is a value
    whose text and meaning differ (`title: no` reads as false): quote it as you mean it.
    Documents kept beside invoices are not touched. All files are written in one change
    (one commit with git.autocommit); no rules or hooks run, as no data changes.

    \b
    Examples:
      crm fmt                          # every record
      crm fmt contacts deals/acme-redesign.yaml
      crm fmt --check                  # in CI: list files not in canonical form, exit 1
      crm fmt --dry-run                # show the diff, write nothing
    """
    from crm import output
    from crm.context import app_context

    ctx = app_context()
    store = ctx.store
    config, _ = store.config()  # crm.yaml's problems are `crm check`'s; defaults stand in
    files = _selected(store, targets or [])
    kinds = {
        rtype.name: {
            name: f.as_field().kind for name, f in config.custom_fields(rtype.name).items()
        }
        for rtype, _ in files
    }
    if check:
        results = [_format(store, rtype, path, kinds) for rtype, path in files]
        for result in results:
            if not result.canonical:
                print(result.rel)
        _report(results)
        if any(not r.canonical for r in results):
            raise typer.Exit(1)
        return
    with store.transaction(dry_run=dry_run) as tx:
        tx.automate = False  # formatting changes no data: nothing for rules or hooks
        results = [_format(store, rtype, path, kinds) for rtype, path in files]
        changed = [r for r in results if r.text is not None and not r.canonical]
        for result in changed:
            assert result.text is not None
            tx.write_text(result.rtype, result.rid, result.text)
        tx.message = f"fmt {len(changed)} record{'' if len(changed) == 1 else 's'}"
    if dry_run:
        output.emit_diff(tx.changes)
    _report(results)
    total = len(results)
    if not changed:
        output.info(f"All {total} records are in canonical form" if total else "No records")
    elif dry_run:
        output.info(f"Would format {len(changed)} of {total} records; nothing written")
    else:
        output.info(f"Formatted {len(changed)} of {total} records")
    if any(r.text is None for r in results):
        raise typer.Exit(1)


def _format(
    store: Store, rtype: RecordType, path: Path, kinds: dict[str, dict[str, Kind]]
) -> FileResult:
    from crm.store import canonical

    return canonical.format_file(store.root, rtype, path, kinds.get(rtype.name))


def _report(results: list[FileResult]) -> None:
    """Each problem as `path:line: message` on stderr, then what they mean."""
    from crm import output

    refused = [r for r in results if r.text is None]
    for result in refused:
        for problem in result.problems:
            print(problem, file=sys.stderr)
    if refused:
        count = len(refused)
        output.info(
            f"{count} file{' was' if count == 1 else 's were'} left as "
            f"{'it is' if count == 1 else 'they are'}: fix what is shown and run `crm fmt` again"
        )


def _selected(store: Store, targets: list[str]) -> list[tuple[RecordType, Path]]:
    """The record files the arguments name (every record without any), in type order."""
    from crm.errors import UsageError
    from crm.models import RECORD_TYPES, record_type

    if not targets:
        return [(rtype, path) for rtype in RECORD_TYPES.values() for path in store.files(rtype)]
    chosen: dict[Path, RecordType] = {}
    root = store.root.resolve()
    for target in targets:
        try:
            rtype = record_type(target.replace("-", "_"))
        except KeyError:
            pass
        else:
            chosen.update((path, rtype) for path in store.files(rtype))
            continue
        path = _existing(target, store.root)
        if path is None:
            raise UsageError(f"{target}: no such record type, file or folder")
        try:
            rel = path.relative_to(root)
        except ValueError:
            raise UsageError(f"{target}: not in the CRM folder {store.root}") from None
        if not rel.parts:  # the CRM folder itself
            chosen.update((p, t) for t in RECORD_TYPES.values() for p in store.files(t))
            continue
        folder = rel.parts[0]
        rtype_of = next((t for t in RECORD_TYPES.values() if t.plural == folder), None)
        if rtype_of is None or len(rel.parts) > 2:
            raise UsageError(f"{target}: not a record file nor a folder of records")
        if len(rel.parts) == 1:
            chosen.update((p, rtype_of) for p in store.files(rtype_of))
        elif path.suffix != ".yaml" or path.name.startswith("."):
            raise UsageError(f"{target}: not a record file (records end in .yaml)")
        else:
            chosen[store.folder(rtype_of) / path.name] = rtype_of
    order = {name: i for i, name in enumerate(RECORD_TYPES)}
    return sorted(
        ((rtype, path) for path, rtype in chosen.items()),
        key=lambda item: (order[item[0].name], item[1].name),
    )


def _existing(target: str, root: Path) -> Path | None:
    """`target` as a path from here, else from the CRM folder; absolute, links in its folders
    resolved (not the file's own: a link is reported, not followed)."""
    for base in (Path.cwd(), root):
        path = Path(os.path.abspath(base / target))
        if path.exists() or path.is_symlink():
            return path.parent.resolve() / path.name if path.name else path.resolve()
    return None
