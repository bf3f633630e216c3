"""crm product: the catalogue of what you sell, for quote and invoice lines."""

from __future__ import annotations

from typing import Annotated

import typer

from crm.commands._options import DryRunOpt, FieldOpt, IdOpt, TagOpt
from crm.commands._records import add_record, record_app
from crm.models import PRODUCT


def add(
    name: Annotated[str, typer.Argument(help="What you sell, as lines will name it.")],
    price: Annotated[str | None, typer.Option("--price", help="Unit price, net.")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="hour, day, piece, month, ...")] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="ISO 4217 code. Default: crm.yaml's.")
    ] = None,
    tax: Annotated[
        str | None, typer.Option("--tax", help="Tax rate in percent. Default: crm.yaml's.")
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="A longer description.")
    ] = None,
    tag: TagOpt = None,
    field: FieldOpt = None,
    id: IdOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a product or service to the catalogue and print its id.

    \b
    Examples:
      crm product add "Design, per hour" --price 95 --unit hour --tax 19 --id design-hour
      crm product add "Hosting, 1 year" --price 240 --unit piece
    """
    add_record(
        PRODUCT,
        {
            "name": name,
            "price": price,
            "unit": unit,
            "currency": currency,
            "tax_rate": tax,
            "description": description,
            "tags": tag,
        },
        custom=field,
        explicit_id=id,
        dry_run=dry_run,
    )


app = record_app(PRODUCT, "price>=100", add)
