"""Email: messages rendered from templates, sent over SMTP (crm.yaml `mail:`).

The password is never in the folder: it comes from $CRM_SMTP_PASSWORD or the system keyring
(`crm mail password`). Templates are `<name>.subject.j2`, `<name>.txt.j2` and, optionally,
`<name>.html.j2`; a file of the same name in the folder's templates/ wins over the built-in one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm.errors import MailError, ValidationError, notice

if TYPE_CHECKING:
    from email.message import EmailMessage

    from crm.config import Config

SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
KEYS = ("host", "port", "security", "user", "from", "reply_to", "bcc", "timeout")
PASSWORD_ENV = "CRM_SMTP_PASSWORD"
KEYRING_SERVICE = "crm-smtp"
SETUP_HINT = "add `mail:` with host, port and user to crm.yaml (docs/email.md)"
# Whom a message goes to: `addr` or `Name <addr>` as a header has it, or (name, addr).
Recipient = str | tuple[str | None, str]
_ADDRESS_RE = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+")
# crm.yaml is read by every command: its addresses are checked by this pattern, not by the
# (slower to import) header parser that `compose` uses.
_NAMED_RE = re.compile(r"\s*(?:(?P<name>[^<>\r\n]*?)\s*<(?P<addr>[^<>\s]+)>|(?P<bare>[^<>\s]+))\s*")


@dataclass(frozen=True, slots=True, kw_only=True)
class MailSettings:
    """How email is sent: the SMTP server and the sender (crm.yaml `mail:`)."""

    host: str
    port: int
    security: str = "starttls"  # starttls, tls (SMTPS) or none
    user: str | None = None  # log in as this user (the password from the environment/keyring)
    sender: str | None = None  # the From address; None: crm.yaml's business.email
    sender_name: str | None = None  # the From name; None: crm.yaml's business.name
    reply_to: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()  # a copy of every message (to yourself, to an archive)
    timeout: float = 30.0  # seconds to wait for the server

    @property
    def keyring_user(self) -> str:
        """The name the password is kept under in the system keyring."""
        return f"{self.user}@{self.host}"


def parse_settings(raw: Any, problem: Any) -> MailSettings | None:
    """crm.yaml `mail:` as settings; each problem reported through `problem(key, message)`.
    None when there is no usable server (not a mapping, no host)."""
    if not isinstance(raw, dict):
        problem("mail", "must be a mapping (host, port, security, user, from)")
        return None
    for key in raw:
        if key == "password":
            problem(
                "mail.password",
                "passwords are never kept in the folder: "
                f"set {PASSWORD_ENV} or run `crm mail password`",
            )
        elif key not in KEYS:
            problem(f"mail.{key}", f"unknown setting; mail: has {', '.join(KEYS)}")
    host = raw.get("host")
    if not isinstance(host, str) or not host.strip():
        problem("mail.host", "the SMTP server's name is required, e.g. smtp.example.com")
        return None
    security = str(raw.get("security") or "starttls").lower()
    if security not in SECURITY:
        problem("mail.security", f"'{raw['security']}' is not one of: {', '.join(SECURITY)}")
        security = "starttls"
    port = raw.get("port", DEFAULT_PORTS[security])
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problem("mail.port", f"'{port}' is not a port number (587 for starttls, 465 for tls)")
        port = DEFAULT_PORTS[security]
    user = raw.get("user")
    if user is not None and (not isinstance(user, str | int) or isinstance(user, bool)):
        problem("mail.user", "must be text: the name to log in with")
        user = None
    sender, sender_name = _parse_from(raw.get("from"), problem)
    timeout = raw.get("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        problem("mail.timeout", f"'{timeout}' is not a number of seconds")
        timeout = 30
    return MailSettings(
        host=host.strip(),
        port=port,
        security=security,
        user=str(user) if user not in (None, "") else None,
        sender=sender,
        sender_name=sender_name,
        reply_to=_addresses(raw.get("reply_to"), "mail.reply_to", problem),
        bcc=_addresses(raw.get("bcc"), "mail.bcc", problem),
        timeout=float(timeout),
    )


def _parse_from(raw: Any, problem: Any) -> tuple[str | None, str | None]:
    """`from: Name <addr>`, `from: addr` or `from: {address: addr, name: Name}`."""
    if raw is None:
        return None, None
    if isinstance(raw, dict):
        unknown = [k for k in raw if k not in ("address", "name")]
        if unknown:
            problem(f"mail.from.{unknown[0]}", "unknown setting; from: has address and name")
        address = raw.get("address")
        name = raw.get("name")
        if not isinstance(address, str) or not _ADDRESS_RE.fullmatch(address.strip()):
            problem("mail.from.address", f"'{address}' is not an email address")
            return None, None
        return address.strip(), str(name) if name else None
    if not isinstance(raw, str):
        problem("mail.from", "must be an address, `Name <address>`, or {address:, name:}")
        return None, None
    try:
        name, address = _quick_address(raw)
    except ValidationError as exc:
        problem("mail.from", exc.message)
        return None, None
    return address, name


def _addresses(raw: Any, key: str, problem: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        try:
            _quick_address(str(item))
        except ValidationError as exc:
            problem(key, exc.message)
            continue
        out.append(str(item).strip())
    return tuple(out)


def _quick_address(text: str) -> tuple[str | None, str]:
    """(name or None, address) of `addr` or `Name <addr>`, by pattern."""
    found = _NAMED_RE.fullmatch(text)
    address = (found.group("addr") or found.group("bare")) if found else None
    if found is None or address is None or not _ADDRESS_RE.fullmatch(address):
        shown = " ".join(text.split())
        raise ValidationError(f"'{shown}' is not an email address", hint="e.g. ada@example.com")
    name = (found.group("name") or "").strip().strip('"').strip()
    return (name or None), address


def split_address(text: str) -> tuple[str | None, str]:
    """(display name or None, address) of `ada@example.com` or `Ada L. <ada@example.com>`:
    exactly one address, parsed as a mail header would be."""
    from email.headerregistry import HeaderRegistry

    stripped = text.strip()
    shown = " ".join(stripped.split())
    bad = ValidationError(f"'{shown}' is not an email address", hint="e.g. ada@example.com")
    if not stripped or "\n" in stripped or "\r" in stripped:
        raise bad
    try:
        header: Any = HeaderRegistry()("To", stripped)
    except Exception as exc:  # the header parser's own errors (IndexError on `ada@`)
        raise bad from exc
    if header.defects or len(header.addresses) != 1:
        raise bad
    found = header.addresses[0]
    address = found.addr_spec
    if not _ADDRESS_RE.fullmatch(address) or address.count("@") != 1:
        raise bad
    return (found.display_name or None), address


def settings_of(config: Config, *, hint: str = SETUP_HINT) -> MailSettings:
    """The folder's mail settings; MailError when crm.yaml has none."""
    if config.mail is None:
        raise MailError("email is not set up: crm.yaml has no `mail:`", hint=hint)
    settings: MailSettings = config.mail
    return settings


# -- composing --------------------------------------------------------------------------------


def _header_address(name: str | None, address: str) -> Any:
    """A header address: the name encoded when it is not ASCII (by the policy), the domain
    in IDNA; a local part that is not ASCII needs SMTPUTF8, which is not used."""
    from email.headerregistry import Address

    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise ValidationError(f"'{address}': an address must be ASCII before the @")
    try:
        domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError as exc:
        raise ValidationError(f"'{address}' has a domain that is not valid") from exc
    try:
        return Address(display_name=name or "", username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise ValidationError(f"'{address}' is not an email address") from exc


def _parsed(given: str | tuple[str | None, str]) -> Any:
    """A header address from a text (`Name <addr>`, parsed as a header) or from a (name,
    address) pair, whose name is taken as it is: `Dr. Sabine Koch`, `Ada (Acme GmbH)` and
    quotes need no quoting by the caller."""
    if isinstance(given, str):
        name, address = split_address(given)
        return _header_address(name, address)
    name, address = given
    if name is not None and ("\r" in name or "\n" in name):
        raise ValidationError(f"the name of {address} holds a line break, which no header may")
    _, address = split_address(address)
    return _header_address(" ".join(name.split()) if name else None, address)


def sender_of(config: Config, settings: MailSettings) -> Any:
    """The From address: crm.yaml's mail.from, else its business name and email."""
    business = config.business
    address = settings.sender or (str(business["email"]) if business.get("email") else None)
    if not address:
        raise MailError(
            "no address to send from", hint="set mail.from or business.email in crm.yaml"
        )
    name = settings.sender_name
    if name is None and business.get("name"):
        name = str(business["name"])
    name_given, address = split_address(address)
    return _header_address(name or name_given, address)


def render_parts(
    root: Path, template: str, context: Mapping[str, Any]
) -> tuple[str, str, str | None]:
    """(subject, text, html or None) of the email template `template`."""
    from crm import render

    overrides = root / "templates"
    subject = render.render_template(f"{template}.subject.j2", dict(context), overrides)
    text = render.render_template(f"{template}.txt.j2", dict(context), overrides)
    html = render.render_template(f"{template}.html.j2", dict(context), overrides, optional=True)
    assert subject is not None and text is not None
    subject = " ".join(subject.split())  # one line: a header never carries a line break
    if not subject:
        raise ValidationError(f"template {template}.subject.j2 gives an empty subject")
    return subject, text, html


def compose(
    config: Config,
    root: Path,
    template: str,
    context: Mapping[str, Any],
    *,
    to: str | Sequence[Recipient],
    cc: str | Sequence[Recipient] = (),
    attachments: Sequence[tuple[str, bytes, str] | Path] = (),
) -> EmailMessage:
    """The message rendered from `template` (subject, text and an optional HTML part) for
    `to` and `cc` (addresses, (name, address) pairs, or one text of addresses separated by
    commas), with `attachments` as (file name, bytes, MIME type) or files, ready to send."""
    from email import policy
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    from crm import dates

    settings = settings_of(config)
    sender = sender_of(config, settings)
    recipients = [_parsed(a) for a in address_list(to)]
    copies = [_parsed(a) for a in address_list(cc)]
    if not recipients:
        raise ValidationError("the email has no recipient", hint="give --to ADDR")
    subject, text, html = render_parts(root, template, context)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = recipients
    if copies:
        message["Cc"] = copies
    if settings.reply_to:
        message["Reply-To"] = [_parsed(a) for a in settings.reply_to]
    if settings.bcc:
        message["Bcc"] = [_parsed(a) for a in settings.bcc]  # dropped when sent or written
    message["Subject"] = subject
    message["Date"] = format_datetime(dates.now())
    message["Message-ID"] = make_msgid(domain=sender.domain)
    # Quoted-printable, never 8bit: a server without 8BITMIME would pass 8-bit bytes on as
    # they are, and a reader far from ASCII still sees the text as it was written.
    message.set_content(text, cte=_transfer_encoding(text))
    if html is not None:
        message.add_alternative(html, subtype="html", cte=_transfer_encoding(html))
    for item in attachments:
        name, data, mime = _attachment(item) if isinstance(item, Path) else item
        maintype, _, subtype = mime.partition("/")
        params = {"charset": "utf-8"} if maintype == "text" else None  # crm writes UTF-8
        message.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=name,
            params=params,
        )
    return message


def address_list(given: str | Sequence[Recipient]) -> list[Recipient]:
    """Addresses one by one: a text is split at its commas (those outside quotes)."""
    if not isinstance(given, str):
        return [a if isinstance(a, tuple) else str(a) for a in given if _given(a)]
    parts: list[str] = []
    current, quoted, angled = "", False, False
    for char in given:
        if char == '"':
            quoted = not quoted
        elif char in "<>" and not quoted:
            angled = char == "<"
        if char == "," and not quoted and not angled:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _given(item: Recipient) -> bool:
    return bool(item[1].strip()) if isinstance(item, tuple) else bool(str(item).strip())


def mime_type(name: str) -> str:
    """The MIME type of an attachment, by its file name."""
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _attachment(path: Path) -> tuple[str, bytes, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot attach {path}: {exc.strerror or exc}") from exc
    return path.name, data, mime_type(path.name)


def _transfer_encoding(text: str) -> str:
    short = all(len(line) <= 78 for line in text.splitlines())
    return "7bit" if text.isascii() and short else "quoted-printable"


def addresses(message: EmailMessage, *headers: str) -> list[str]:
    """The bare addresses in the message's `headers` (To, Cc, ...), in order."""
    out: list[str] = []
    for header in headers or ("To", "Cc"):
        value = message.get(header)
        if value is not None:
            out.extend(a.addr_spec for a in value.addresses)
    return out


def as_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over the wire: CRLF line ends, no Bcc header."""
    from copy import copy
    from email import policy

    wire = copy(message)
    del wire["Bcc"]
    return wire.as_bytes(policy=policy.SMTP)


def write_eml(message: EmailMessage, path: Path) -> None:
    """The message to an .eml file, replaced atomically: the bytes as they would be sent."""
    import contextlib
    import tempfile

    data = as_bytes(message)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".crm-tmp-", suffix=".eml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


# -- sending ----------------------------------------------------------------------------------


def password_of(settings: MailSettings) -> str | None:
    """The SMTP password: $CRM_SMTP_PASSWORD, else the system keyring's; None if neither."""
    given = os.environ.get(PASSWORD_ENV)
    if given:
        return given
    try:
        import keyring
    except ImportError:  # the optional extra is not installed
        return None
    try:
        found = keyring.get_password(KEYRING_SERVICE, settings.keyring_user)
    except Exception:  # no backend, a locked or broken keyring: no password from there
        return None
    return found or None


def store_password(settings: MailSettings, password: str) -> None:
    """Keep the SMTP password in the system keyring; MailError when there is none."""
    try:
        import keyring
        import keyring.errors
    except ImportError as exc:
        raise MailError(
            "the keyring package is not installed",
            hint=f"install crm with the keyring extra, or set {PASSWORD_ENV}",
        ) from exc
    try:
        keyring.set_password(KEYRING_SERVICE, settings.keyring_user, password)
    except Exception as exc:  # NoKeyringError, a locked keyring, a backend's own error
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise MailError(
            f"no system keyring to keep the password in: {reason}",
            hint=f"set {PASSWORD_ENV} in the environment instead",
        ) from exc


def _login(client: Any, user: str, password: str) -> None:
    """Log in; a name or password that is not ASCII by AUTH PLAIN in UTF-8 (RFC 4616), which
    smtplib's own login cannot send."""
    import base64
    import smtplib

    if user.isascii() and password.isascii():
        client.login(user, password)
        return
    client.ehlo_or_helo_if_needed()
    if not client.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    if "plain" not in client.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPAuthenticationError(504, b"the server takes no AUTH PLAIN")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, resp = client.docmd("AUTH", f"PLAIN {token}")
    if code not in (235, 503):
        raise smtplib.SMTPAuthenticationError(code, resp)


def _secret_forms(user: str, password: str) -> list[str]:
    """Every form in which the password could come back in a server's reply or an error:
    as it is, escaped as Python shows text and bytes, in UTF-8 read as Latin-1, and base64
    as AUTH LOGIN and AUTH PLAIN send it. Longest first."""
    import base64

    raw = password.encode("utf-8")
    forms = {
        password,
        ascii(password)[1:-1],
        repr(raw)[2:-1],
        raw.decode("latin-1"),
        raw.hex(),
    }
    for secret in (raw, b"\0" + user.encode("utf-8") + b"\0" + raw, user.encode() + b"\0" + raw):
        token = base64.b64encode(secret).decode("ascii")
        forms.update({token, token.rstrip("=")})
    return sorted((f for f in forms if f), key=len, reverse=True)


def deliver(settings: MailSettings, message: EmailMessage) -> None:
    """Send `message` to its To, Cc and Bcc over SMTP; MailError (one line, never the
    password) when the server cannot be reached, refuses the login or every recipient."""
    import smtplib
    import socket
    import ssl

    where = f"{settings.host}:{settings.port}"
    password = None
    if settings.user:
        password = password_of(settings)
        if password is None:
            raise MailError(
                f"no SMTP password for {settings.keyring_user}",
                hint=f"set {PASSWORD_ENV} or run `crm mail password`",
            )

    secrets = _secret_forms(settings.user or "", password) if password else []

    def clean(text: str) -> str:
        text = " ".join(text.split())
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    def reply(code: int, resp: bytes | str) -> str:
        said = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
        return clean(f"{code} {said}")

    try:
        if settings.security == "tls":
            context = ssl.create_default_context()
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.security == "starttls":
                try:
                    client.starttls(context=ssl.create_default_context())
                except smtplib.SMTPNotSupportedError as exc:
                    raise MailError(
                        f"{where} does not offer STARTTLS",
                        hint="set mail.security to tls (port 465) or, on a trusted network, none",
                    ) from exc
            if settings.user and password is not None:
                try:
                    _login(client, settings.user, password)
                except smtplib.SMTPNotSupportedError as exc:
                    raise MailError(
                        f"{where} does not offer a login (AUTH), and mail.user is set",
                        hint="remove mail.user if the server needs none; many servers offer "
                        "AUTH only over TLS (mail.security starttls or tls)",
                    ) from exc
            refused = client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"{where} refused the login as {settings.user}: {reply(exc.smtp_code, exc.smtp_error)}",
            hint=f"check mail.user and the password ({PASSWORD_ENV} or `crm mail password`)",
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        (address, (code, resp)), *_ = exc.recipients.items()
        raise MailError(
            f"{where} refused the recipient {address}: {reply(code, resp)}"
            + (f" (and {len(exc.recipients) - 1} more)" if len(exc.recipients) > 1 else "")
        ) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(
            f"{where} refused the sender {exc.sender}: {reply(exc.smtp_code, exc.smtp_error)}",
            hint="mail.from (or business.email) must be an address the server lets you use",
        ) from exc
    except smtplib.SMTPResponseException as exc:
        said = reply(exc.smtp_code, exc.smtp_error)
        raise MailError(f"{where} refused the message: {said}") from exc
    except smtplib.SMTPServerDisconnected as exc:
        if isinstance(exc.__context__, TimeoutError):  # smtplib's word for a silent server
            raise MailError(f"no answer from {where} within {settings.timeout:g} s") from exc
        said = clean(str(exc)) or "no reason given"
        raise MailError(f"{where} closed the connection: {said}") from exc
    except smtplib.SMTPException as exc:
        raise MailError(f"sending through {where} failed: {clean(str(exc))}") from exc
    except ssl.SSLError as exc:
        reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        raise MailError(
            f"TLS with {where} failed: {clean(str(reason))}",
            hint="check mail.host, mail.port and mail.security (starttls on 587, tls on 465)",
        ) from exc
    except socket.gaierror as exc:
        raise MailError(f"cannot find the SMTP server {settings.host}: {exc.strerror}") from exc
    except ConnectionRefusedError as exc:
        raise MailError(
            f"cannot connect to {where}: connection refused",
            hint="check mail.host and mail.port in crm.yaml",
        ) from exc
    except TimeoutError as exc:
        raise MailError(f"no answer from {where} within {settings.timeout:g} s") from exc
    except OSError as exc:
        raise MailError(f"cannot connect to {where}: {exc.strerror or exc}") from exc
    if refused:
        shown = ", ".join(sorted(refused))
        notice(f"{where} refused {shown}; the others received the message")
