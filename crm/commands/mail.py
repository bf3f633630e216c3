"""crm mail: the SMTP settings and password."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crm import output
from crm.commands._options import CrmTyper
from crm.context import app_context
from crm.errors import MailError, UsageError

app = CrmTyper(help="Email: test the SMTP settings, store the password.")


@app.command("test")
def test(
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to", help="Send to this address (default: your own, the From).", metavar="ADDR"
        ),
    ] = None,
) -> None:
    """Send a short test message through the server in crm.yaml's `mail:`, to see that the
    settings and the password work. Says what went wrong when they do not.

    \b
    Examples:
      crm mail test
      crm mail test --to me@example.com
    """
    from crm import mail
    from crm.documents import seller

    ctx = app_context()
    config = ctx.config
    settings = mail.settings_of(config)
    recipients = list(to or [])
    if not recipients:
        sender = mail.sender_of(config, settings)
        recipients = [sender.addr_spec]
    where = f"{settings.host}:{settings.port}"
    context = {
        "server": where,
        "security": settings.security,
        "user": settings.user,
        "seller": seller(config),
        "locale": config.billing.locale,
        "currency": config.currency,
    }
    message = mail.compose(config, ctx.root, "test_email", context, to=recipients)
    mail.deliver(settings, message)
    output.info(f"Sent a test message to {', '.join(mail.addresses(message))} through {where}")


@app.command("password")
def password(
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password from stdin (for scripts).")
    ] = False,
) -> None:
    """Keep the SMTP password in the system keyring (never in the folder), under crm.yaml's
    mail.user and mail.host. Asks for it without echo. $CRM_SMTP_PASSWORD, when set, is used
    instead of the keyring's.

    \b
    Examples:
      crm mail password
      pass show smtp/studio | crm mail password --stdin
    """
    from crm import mail

    ctx = app_context()
    settings = mail.settings_of(ctx.config)
    if not settings.user:
        raise MailError(
            "crm.yaml's mail: has no user, so no password is needed",
            hint="set mail.user to the name the server knows you by",
        )
    if stdin:
        given = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password on", hint="pipe it in with --stdin")
    else:
        given = typer.prompt(
            f"SMTP password for {settings.keyring_user}",
            hide_input=True,
            confirmation_prompt=True,
        )
    if not given:
        raise UsageError("the password is empty: nothing stored")
    mail.store_password(settings, given)
    output.info(f"Stored the SMTP password for {settings.keyring_user} in the system keyring")
