"""crm contact: people you work with."""

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
from crm.models import CONTACT


def add(
    name: Annotated[str, typer.Argument(help="Full name.")],
    email: EmailOpt = None,
    phone: PhoneOpt = None,
    title: Annotated[str | None, typer.Option("--title", help="Job title or role.")] = None,
    company: Annotated[
        str | None, typer.Option("--company", "-c", help="Company: id, name or email.")
    ] = None,
    street: StreetOpt = None,
    postcode: PostcodeOpt = None,
    city: CityOpt = None,
    region: RegionOpt = None,
    country: CountryOpt = None,
    birthday: Annotated[
        str | None,
        typer.Option("--birthday", help="YYYY-MM-DD, or --MM-DD without the year."),
    ] = None,
    website: Annotated[str | None, typer.Option("--website", help="Web page.")] = None,
    tag: TagOpt = None,
    notes: NotesOpt = None,
    field: FieldOpt = None,
    id: IdOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a contact and print its id.

    \b
    Examples:
      crm contact add "Ada Lovelace" --email ada@example.com --company acme-corp --tag client
      id=$(crm contact add "Grace Hopper" --phone "+1 555 0100" --title CTO)
      crm contact add "Alan Turing" --birthday 1912-06-23 --website turing.example
    """
    add_record(
        CONTACT,
        {
            "name": name,
            "emails": email,
            "phones": phone,
            "title": title,
            "company": company,
            "address.street": street,
            "address.postcode": postcode,
            "address.city": city,
            "address.region": region,
            "address.country": country,
            "birthday": birthday,
            "website": website,
            "tags": tag,
            "notes": notes,
        },
        custom=field,
        explicit_id=id,
        dry_run=dry_run,
    )


app = record_app(CONTACT, "company=acme-corp", add)
