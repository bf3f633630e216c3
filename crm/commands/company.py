"""crm company: the organisations you sell to (accounts)."""

from __future__ import annotations

from typing import Annotated

import typer

from crm.commands._options import (
    CityOpt,
    CountryOpt,
    DryRunOpt,
    EmailOpt,
    FieldOpt,
    IdOpt,
    NotesOpt,
    PhoneOpt,
    PostcodeOpt,
    RegionOpt,
    StreetOpt,
    TagOpt,
)
from crm.commands._records import add_record, record_app
from crm.models import COMPANY


def add(
    name: Annotated[str, typer.Argument(help="Company name.")],
    domain: Annotated[str | None, typer.Option("--domain", help="Internet domain.")] = None,
    website: Annotated[str | None, typer.Option("--website", help="Website address.")] = None,
    industry: Annotated[str | None, typer.Option("--industry", help="Industry or sector.")] = None,
    vat_id: Annotated[
        str | None, typer.Option("--vat-id", help="VAT id, printed on invoices.")
    ] = None,
    payment_terms: Annotated[
        str | None, typer.Option("--payment-terms", help="Days to pay (default: crm.yaml's).")
    ] = None,
    tax_regime: Annotated[
        str | None,
        typer.Option("--tax-regime", help="standard, reverse_charge or small_business."),
    ] = None,
    email: EmailOpt = None,
    phone: PhoneOpt = None,
    street: StreetOpt = None,
    postcode: PostcodeOpt = None,
    city: CityOpt = None,
    region: RegionOpt = None,
    country: CountryOpt = None,
    tag: TagOpt = None,
    notes: NotesOpt = None,
    field: FieldOpt = None,
    id: IdOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a company and print its id.

    \b
    Examples:
      crm company add "Acme Corp" --domain acme.com --industry Retail --city Berlin
      crm company add "Globex" --website https://globex.example --tag prospect
      crm company add "Nordic AB" --vat-id SE556677889901 --tax-regime reverse_charge
    """
    add_record(
        COMPANY,
        {
            "name": name,
            "domain": domain,
            "website": website,
            "industry": industry,
            "vat_id": vat_id,
            "payment_terms": payment_terms,
            "tax_regime": tax_regime,
            "emails": email,
            "phones": phone,
            "address.street": street,
            "address.postcode": postcode,
            "address.city": city,
            "address.region": region,
            "address.country": country,
            "tags": tag,
            "notes": notes,
        },
        custom=field,
        explicit_id=id,
        dry_run=dry_run,
    )


app = record_app(COMPANY, "industry~retail", add)
