"""Email: invoices, quotes, reminders and the agenda sent to a real SMTP server on loopback."""

from __future__ import annotations

import email
import socket
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from helpers import invoice_with_lines, load, needs_pdf, no_traceback, shown

PASSWORD = "s3cret-Pässword"


class Inbox:
    """An aiosmtpd handler that keeps every envelope it accepts; it refuses nobody@."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, inbox: Inbox, port: int) -> None:
        self.inbox = inbox
        self.port = port


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"studio"
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def _serve(**kwargs):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, Server(inbox, port)


@pytest.fixture
def smtp():
    """An SMTP server on 127.0.0.1 (no TLS, no login) that keeps what it receives."""
    controller, server = _serve()
    yield server
    controller.stop()


@pytest.fixture
def smtp_auth():
    """An SMTP server that wants a login: user `studio`, password PASSWORD."""
    controller, server = _serve(authenticator=_authenticate, auth_require_tls=False)
    yield server
    controller.stop()


def mail_settings(folder: Path, port: int, **extra: str) -> None:
    lines = [
        "mail:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        "  security: none",
        '  from: "Test Studio <studio@studio.example>"',
        *(f"  {k}: {v}" for k, v in extra.items()),
    ]
    config = folder / "crm.yaml"
    config.write_text(config.read_text() + "\n" + "\n".join(lines) + "\n")


@pytest.fixture
def issued(crm, billed: Path) -> str:
    """An issued invoice of 2 hours of design for Acme (contact Ada): 226.10 due 2026-12-07."""
    rid = invoice_with_lines(crm, ["--product", "design", "--qty", "2"])
    assert crm("invoice", "set", rid, "contact=ada-lovelace").ok
    assert crm("invoice", "issue", rid).ok
    return rid


def activities(folder: Path) -> list[dict]:
    return [load(p) for p in sorted((folder / "activities").glob("*.yaml"))]


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    (part,) = list(message.iter_attachments())
    return part.get_filename(), part.get_content()


def body(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


# -- invoice send -----------------------------------------------------------------------------


def test_invoice_send_emails_the_kept_document_and_marks_it_sent(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    result = crm("invoice", "send", issued)
    assert result.ok, result.stderr
    (envelope,) = smtp.inbox.envelopes
    assert envelope.mail_from == "studio@studio.example"
    assert envelope.rcpt_tos == ["ada@acme.example"]
    (message,) = smtp.inbox.messages
    assert message["From"] == "Test Studio <studio@studio.example>"
    assert message["To"] == "Ada Lovelace <ada@acme.example>"
    assert message["Subject"] == "Invoice 2026-0001 from Test Studio"
    assert message["Message-ID"].endswith("@studio.example>")
    assert message["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"
    text = body(message)
    assert "Dear Ada Lovelace," in text
    assert "invoice 2026-0001" in text
    assert "Amount due: €226.10" in text and "Due date: 7 Dec 2026" in text
    name, data = attachment(message)
    invoice = load(billed / "invoices" / f"{issued}.yaml")
    kept = billed / "invoices" / invoice["document"]["file"]
    assert name == "invoice-2026-0001.html" and data == kept.read_text()
    part = next(message.iter_attachments())
    assert part.get_content_type() == "text/html"
    assert part.get_payload(decode=True) == kept.read_bytes()  # byte for byte
    assert invoice["status"] == "sent"
    (activity,) = activities(billed)
    assert activity["type"] == "email" and activity["invoice"] == issued
    assert activity["companies"] == ["acme-gmbh"] and activity["contacts"] == ["ada-lovelace"]
    assert activity["text"] == "Invoice 2026-0001 from Test Studio\nTo: ada@acme.example"
    assert crm("check").ok


def test_invoice_send_to_and_cc_override_the_customer(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port, bcc="archive@studio.example")
    result = crm(
        "invoice", "send", issued, "--to", "Accounts <accounts@acme.example>", "--cc", "b@x.example"
    )
    assert result.ok, result.stderr
    (envelope,) = smtp.inbox.envelopes
    assert sorted(envelope.rcpt_tos) == [
        "accounts@acme.example",
        "archive@studio.example",
        "b@x.example",
    ]
    (message,) = smtp.inbox.messages
    assert message["To"] == "Accounts <accounts@acme.example>" and message["Cc"] == "b@x.example"
    assert message["Bcc"] is None  # the copy is in the envelope, never in the headers
    assert "Dear Accounts," in body(message)
    (activity,) = activities(billed)
    assert "To: accounts@acme.example\nCc: b@x.example" in activity["text"]


def test_a_company_invoice_goes_to_its_billing_contact(crm, billed, smtp):
    mail_settings(billed, smtp.port)
    assert crm("contact", "add", "Bob Books", "--email", "bob@acme.example", "--company", "acme").ok
    assert crm("contact", "set", "bob-books", "title=Head of Accounts").ok
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])  # for the company only
    assert crm("invoice", "issue", rid).ok
    assert crm("invoice", "send", rid).ok
    (message,) = smtp.inbox.messages
    assert message["To"] == "Bob Books <bob@acme.example>"
    (activity,) = activities(billed)
    assert activity["contacts"] == ["bob-books"]


def test_non_ascii_names_are_encoded(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    assert crm("contact", "set", "ada-lovelace", "name=Ada Lövelace-Müller").ok
    assert crm("invoice", "send", issued).ok
    raw = smtp.inbox.envelopes[0].content
    assert raw.isascii()  # headers encoded, the text quoted-printable or base64
    (message,) = smtp.inbox.messages
    assert message["To"] == "Ada Lövelace-Müller <ada@acme.example>"
    assert "Dear Ada Lövelace-Müller," in body(message)


def test_invoice_send_needs_an_issued_invoice(crm, billed, smtp):
    mail_settings(billed, smtp.port)
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])
    result = crm("invoice", "send", rid)
    assert result.exit_code == 23 and "is draft" in result.stderr
    assert smtp.inbox.envelopes == []


def test_sent_once_then_again_only_with_again(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    assert crm("invoice", "send", issued).ok
    result = crm("invoice", "send", issued)
    assert result.exit_code == 23 and "--again" in result.stderr
    assert crm("invoice", "send", issued, "--again").ok
    assert len(smtp.inbox.envelopes) == 2 and len(activities(billed)) == 2


# -- failures ---------------------------------------------------------------------------------


def _unchanged(billed: Path, rid: str, before: bytes) -> None:
    assert (billed / "invoices" / f"{rid}.yaml").read_bytes() == before
    assert not (billed / "activities").exists() or activities(billed) == []


def test_a_refused_connection_changes_nothing(crm, billed, issued):
    mail_settings(billed, free_port())  # nobody listens there
    before = (billed / "invoices" / f"{issued}.yaml").read_bytes()
    result = crm("invoice", "send", issued)
    no_traceback(result)
    assert result.exit_code == 26
    assert result.stderr.count("\n") == 1 and "connection refused" in result.stderr
    _unchanged(billed, issued, before)


def test_login_success_and_a_wrong_password(crm, billed, issued, smtp_auth, monkeypatch):
    mail_settings(billed, smtp_auth.port, user="studio")
    before = (billed / "invoices" / f"{issued}.yaml").read_bytes()
    monkeypatch.setenv("CRM_SMTP_PASSWORD", "wrong-password")
    result = crm("invoice", "send", issued)
    no_traceback(result)
    assert result.exit_code == 26 and result.stderr.count("\n") == 1
    assert "refused the login as studio" in result.stderr
    assert "wrong-password" not in result.stderr + result.stdout
    assert smtp_auth.inbox.envelopes == []
    _unchanged(billed, issued, before)
    monkeypatch.setenv("CRM_SMTP_PASSWORD", PASSWORD)
    result = crm("invoice", "send", issued)
    assert result.ok, result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert len(smtp_auth.inbox.envelopes) == 1
    assert shown(crm, "invoice", issued)["status"] == "sent"


def test_a_refused_recipient_changes_nothing(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    result = crm("invoice", "send", issued, "--to", "nobody@acme.example")
    no_traceback(result)
    assert result.exit_code == 26 and result.stderr.count("\n") == 1
    assert "refused the recipient nobody@acme.example: 550 5.1.1 no such mailbox" in result.stderr
    assert shown(crm, "invoice", issued)["status"] == "issued"
    # one of several refused: the others have it, so it counts as sent, with a warning
    result = crm("invoice", "send", issued, "--cc", "nobody@acme.example")
    assert result.ok and "refused nobody@acme.example" in result.stderr
    assert shown(crm, "invoice", issued)["status"] == "sent"


def test_a_server_that_never_answers_times_out(crm, billed, issued):
    with socket.socket() as silent:  # listens, never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mail_settings(billed, silent.getsockname()[1], timeout="0.3")
        result = crm("invoice", "send", issued)
    no_traceback(result)
    assert result.exit_code == 26 and "no answer from 127.0.0.1" in result.stderr
    assert shown(crm, "invoice", issued)["status"] == "issued"


def test_no_password_says_where_to_put_it(crm, billed, issued, smtp_auth):
    mail_settings(billed, smtp_auth.port, user="studio")
    result = crm("invoice", "send", issued)
    assert result.exit_code == 26
    assert "CRM_SMTP_PASSWORD" in result.stderr and "crm mail password" in result.stderr


def test_starttls_the_server_does_not_offer(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    config = billed / "crm.yaml"
    config.write_text(config.read_text().replace("security: none", "security: starttls"))
    result = crm("invoice", "send", issued)
    assert result.exit_code == 26 and "does not offer STARTTLS" in result.stderr
    assert shown(crm, "invoice", issued)["status"] == "issued"


def test_without_mail_settings_send_fails_and_no_email_marks_sent(crm, billed, issued):
    result = crm("invoice", "send", issued)
    assert result.exit_code == 26
    assert "mail:" in result.stderr and "--no-email" in result.stderr
    assert shown(crm, "invoice", issued)["status"] == "issued"
    result = crm("invoice", "send", issued, "--no-email")
    assert result.ok, result.stderr
    assert shown(crm, "invoice", issued)["status"] == "sent"
    assert not (billed / "activities").exists() or activities(billed) == []


def test_a_password_in_crm_yaml_is_refused(crm, billed):
    mail_settings(billed, 2525, password="hunter2")
    result = crm("check")
    assert result.exit_code != 0
    assert "passwords are never kept in the folder" in result.stdout + result.stderr
    result = crm("invoice", "list")
    assert result.exit_code == 3 and "mail.password" in result.stderr


def test_bad_mail_settings_are_reported_at_their_line(crm, billed):
    config = billed / "crm.yaml"
    config.write_text(config.read_text() + "\nmail:\n  host: smtp.x.example\n  port: lots\n")
    result = crm("check")
    assert "crm.yaml:" in result.stdout and "mail.port" in result.stdout


def test_a_bad_to_address_is_refused_before_anything(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    result = crm("invoice", "send", issued, "--to", "not an address")
    assert result.exit_code == 22 and "is not an email address" in result.stderr
    assert smtp.inbox.envelopes == []


# -- dry run ----------------------------------------------------------------------------------


def test_dry_run_writes_the_eml_and_changes_nothing(crm, billed, issued, smtp, tmp_path):
    mail_settings(billed, smtp.port)
    before = (billed / "invoices" / f"{issued}.yaml").read_bytes()
    result = crm("invoice", "send", issued, "--dry-run")
    assert result.ok, result.stderr
    path = billed / "invoice-2026-0001.eml"
    assert str(path) in result.stderr
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Subject"] == "Invoice 2026-0001 from Test Studio"
    assert message["To"] == "Ada Lovelace <ada@acme.example>"
    _, data = attachment(message)
    invoice = load(billed / "invoices" / f"{issued}.yaml")
    assert data == (billed / "invoices" / invoice["document"]["file"]).read_text()
    assert smtp.inbox.envelopes == []
    _unchanged(billed, issued, before)
    chosen = tmp_path / "out" / "x.eml"
    assert crm("invoice", "send", issued, "--dry-run", "--eml", str(chosen)).ok
    assert chosen.read_bytes().startswith(b"From: Test Studio")


def test_the_folder_template_overrides_the_subject(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    templates = billed / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "invoice_email.subject.j2").write_text(
        "Rechnung {{ number }} über {{ amount_due | money }}\n"
    )
    (templates / "invoice_email.html.j2").write_text("<p>Hallo {{ recipient.name }}</p>\n")
    assert crm("invoice", "send", issued).ok
    (message,) = smtp.inbox.messages
    assert message["Subject"] == "Rechnung 2026-0001 über €226.10"
    assert "Dear Ada Lovelace" in body(message)  # the built-in text is kept
    html = message.get_body(("html",)).get_content()
    assert html.replace("\r\n", "\n") == "<p>Hallo Ada Lovelace</p>\n"


def test_a_broken_template_is_one_clear_error(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    (billed / "templates").mkdir(exist_ok=True)
    (billed / "templates" / "invoice_email.subject.j2").write_text("{{ nope.nothing }}\n")
    result = crm("invoice", "send", issued)
    no_traceback(result)
    assert result.exit_code == 22 and "invoice_email.subject.j2" in result.stderr
    assert smtp.inbox.envelopes == []
    assert shown(crm, "invoice", issued)["status"] == "issued"


def test_the_config_yaml_round_trips():
    # the documented example parses without problems
    from crm.config import parse_config

    raw = yaml.safe_load(
        "business: {name: Studio, email: hi@studio.example}\n"
        "mail: {host: smtp.example.com, user: hi@studio.example, reply_to: hi@studio.example,\n"
        "       bcc: [archive@studio.example], timeout: 10, from: {name: Studio Ö, address: "
        "hi@studio.example}}\n"
    )
    config, issues = parse_config(raw, {})
    assert issues == []
    assert config.mail.port == 587 and config.mail.security == "starttls"
    assert config.mail.sender_name == "Studio Ö" and config.mail.bcc == ("archive@studio.example",)


# -- quote send -------------------------------------------------------------------------------


def test_quote_send_numbers_it_and_emails_the_rendered_quote(crm, billed, smtp):
    mail_settings(billed, smtp.port)
    qid = crm("quote", "new", "Redesign", "--for", "contact:ada-lovelace").stdout.strip()
    assert crm("quote", "line", "add", qid, "--product", "design", "--qty", "10").ok
    result = crm("quote", "send", qid)
    assert result.ok, result.stderr
    number = result.stdout.strip()
    assert number.startswith("Q")
    (message,) = smtp.inbox.messages
    assert message["Subject"] == f"Quote {number} from Test Studio: Redesign"
    assert message["To"] == "Ada Lovelace <ada@acme.example>"
    text = body(message)
    assert f"our quote {number}" in text and "Total: €1,130.50" in text
    assert "Valid until: 23 Dec 2026" in text
    name, data = attachment(message)
    rendered = crm("quote", "render", qid, "--format", "html")
    assert name == f"quote-{number}.html" and data == rendered.stdout
    quote = load(billed / "quotes" / f"{qid}.yaml")
    assert quote["status"] == "sent" and quote["number"] == number
    (activity,) = activities(billed)
    assert activity["quote"] == qid and activity["contacts"] == ["ada-lovelace"]


def test_quote_send_failure_leaves_the_draft(crm, billed):
    mail_settings(billed, free_port())
    qid = crm("quote", "new", "Redesign", "--for", "acme").stdout.strip()
    assert crm("quote", "line", "add", qid, "--text", "X", "--price", "10").ok
    before = (billed / "quotes" / f"{qid}.yaml").read_bytes()
    result = crm("quote", "send", qid)
    assert result.exit_code == 26 and "connection refused" in result.stderr
    assert (billed / "quotes" / f"{qid}.yaml").read_bytes() == before  # no number used up
    assert crm("quote", "send", qid, "--dry-run").ok
    eml = next(billed.glob("quote-*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "Ada Lovelace <ada@acme.example>"  # the company's contact
    assert (billed / "quotes" / f"{qid}.yaml").read_bytes() == before


# -- invoice remind ---------------------------------------------------------------------------


def test_invoice_remind_emails_the_letter_and_records_it(crm, billed, issued, smtp, monkeypatch):
    mail_settings(billed, smtp.port)
    result = crm("invoice", "remind", issued)
    assert result.exit_code == 23 and "not overdue" in result.stderr  # due 2026-12-07
    assert smtp.inbox.envelopes == []
    monkeypatch.setenv("CRM_NOW", "2026-12-15T10:00:00")
    result = crm("invoice", "remind", issued, "-o", "copy.html")
    assert result.ok, result.stderr
    assert result.stdout == ""  # the letter went by email, a copy to -o
    (message,) = smtp.inbox.messages
    assert message["Subject"] == "Payment reminder: invoice 2026-0001"
    text = body(message)
    assert "A friendly reminder." in text and "Please pay: €226.10" in text
    assert "due since 7 Dec 2026" in text
    name, data = attachment(message)
    assert name == "reminder-2026-0001-1.html"
    assert data == (billed / "copy.html").read_text()
    assert "Please pay" in data
    invoice = load(billed / "invoices" / f"{issued}.yaml")
    assert invoice["reminders"] == [{"date": "2026-12-15", "level": 1}]
    (activity,) = activities(billed)
    assert activity["invoice"] == issued and activity["type"] == "email"


def test_a_failed_reminder_is_not_recorded(crm, billed, issued, monkeypatch):
    mail_settings(billed, free_port())
    monkeypatch.setenv("CRM_NOW", "2026-12-15T10:00:00")
    before = (billed / "invoices" / f"{issued}.yaml").read_bytes()
    result = crm("invoice", "remind", issued)
    assert result.exit_code == 26
    _unchanged(billed, issued, before)
    result = crm("invoice", "remind", issued, "--no-email")  # the letter, as before
    assert result.ok and "A friendly reminder." in result.stdout
    assert load(billed / "invoices" / f"{issued}.yaml")["reminders"][0]["level"] == 1


# -- remind --mail ----------------------------------------------------------------------------


def test_remind_mail_sends_exactly_the_agenda(crm, billed, smtp):
    mail_settings(billed, smtp.port)
    result = crm("remind", "--mail", "--to", "me@studio.example")
    assert result.ok and result.stdout == "" and result.stderr == ""  # a quiet day: no mail
    assert smtp.inbox.envelopes == []
    assert crm("task", "add", "Call Ada", "--for", "ada", "--due", "2026-11-23").ok
    printed = crm("remind").stdout
    assert "Call Ada" in printed
    result = crm("remind", "--mail", "--to", "me@studio.example")
    assert result.ok, result.stderr
    assert result.stdout == ""
    (message,) = smtp.inbox.messages
    assert message["To"] == "me@studio.example"
    assert message["Subject"] == "Agenda for 2026-11-23: 1 item"
    assert body(message).replace("\r\n", "\n") == printed


def test_remind_mail_goes_to_the_business_email(crm, billed, smtp):
    mail_settings(billed, smtp.port)
    assert crm("task", "add", "Call Ada", "--due", "2026-11-20").ok
    result = crm("remind", "--mail")
    assert result.exit_code == 22 and "business.email" in result.stderr
    config = billed / "crm.yaml"
    config.write_text(
        config.read_text().replace("business:\n", "business:\n  email: me@x.example\n", 1)
    )
    assert crm("remind", "--mail").ok
    assert smtp.inbox.envelopes[0].rcpt_tos == ["me@x.example"]
    assert crm("remind", "--to", "a@b.example").exit_code == 2  # --to is for --mail


# -- crm mail test and password ---------------------------------------------------------------


@pytest.fixture
def memory_keyring():
    """The system keyring replaced by one in memory for the test."""
    import keyring
    import keyring.backend

    class Memory(keyring.backend.KeyringBackend):
        priority = 1

        def __init__(self) -> None:
            super().__init__()
            self.store: dict = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)

    before = keyring.get_keyring()
    memory = Memory()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(before)


def test_mail_test_sends_a_test_message(crm, billed, smtp):
    mail_settings(billed, smtp.port)
    result = crm("mail", "test")
    assert result.ok, result.stderr
    assert f"through 127.0.0.1:{smtp.port}" in result.stderr
    (message,) = smtp.inbox.messages
    assert message["To"] == "studio@studio.example"  # to yourself
    assert "crm mail test" in body(message)
    assert crm("mail", "test", "--to", "x@y.example").ok
    assert smtp.inbox.envelopes[1].rcpt_tos == ["x@y.example"]


def test_mail_test_without_settings(crm, billed):
    result = crm("mail", "test")
    assert result.exit_code == 26 and "mail:" in result.stderr


def test_the_password_from_the_keyring_logs_in(crm, billed, issued, smtp_auth, memory_keyring):
    mail_settings(billed, smtp_auth.port, user="studio")
    result = crm("mail", "password", "--stdin", input=PASSWORD + "\n")
    assert result.ok, result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert memory_keyring.store == {("crm-smtp", "studio@127.0.0.1"): PASSWORD}
    assert PASSWORD not in (billed / "crm.yaml").read_text()
    assert crm("mail", "test").ok
    assert len(smtp_auth.inbox.envelopes) == 1


def test_no_keyring_backend_is_a_clear_error(crm, billed):
    import keyring
    from keyring.backends import fail

    mail_settings(billed, 2525, user="studio")
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        result = crm("mail", "password", "--stdin", input="pw\n")
    finally:
        keyring.set_keyring(before)
    no_traceback(result)
    assert result.exit_code == 26 and "no system keyring" in result.stderr
    assert "CRM_SMTP_PASSWORD" in result.stderr
    result = crm("mail", "password")  # no terminal to ask on
    assert result.exit_code == 2 and "--stdin" in result.stderr


@needs_pdf
def test_the_issued_pdf_is_attached_byte_for_byte(crm, billed, smtp):
    config = billed / "crm.yaml"
    config.write_text(config.read_text().replace("  pdf: false\n", ""))
    mail_settings(billed, smtp.port)
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])
    assert crm("invoice", "issue", rid).ok
    assert crm("invoice", "send", rid).ok
    (message,) = smtp.inbox.messages
    part = next(message.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    assert part.get_filename() == "invoice-2026-0001.pdf"
    invoice = load(billed / "invoices" / f"{rid}.yaml")
    assert invoice["document"]["format"] == "pdf"
    kept = (billed / "invoices" / invoice["document"]["file"]).read_bytes()
    assert part.get_content() == kept


def test_with_autocommit_the_send_is_one_commit(crm, billed, issued, smtp):
    import subprocess

    mail_settings(billed, smtp.port)
    config = billed / "crm.yaml"
    config.write_text(config.read_text().replace("autocommit: false", "autocommit: true"))

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=billed, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    assert crm("invoice", "send", issued, "--dry-run").ok  # no commit for a dry run
    assert git("log", "--format=%s") == "start\n"
    (billed / "invoice-2026-0001.eml").unlink()
    assert crm("invoice", "send", issued).ok
    subject = git("log", "-1", "--format=%s").strip()
    assert subject == "crm: email invoice 2026-0001 to ada@acme.example"
    files = git("show", "--name-only", "--format=", "HEAD").split()
    (activity,) = (billed / "activities").glob("*.yaml")
    assert sorted(files) == sorted([f"invoices/{issued}.yaml", f"activities/{activity.name}"])


def test_options_that_mean_nothing_are_refused(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    result = crm("invoice", "send", issued, "--eml", "x.eml")
    assert result.exit_code == 2 and "--dry-run" in result.stderr
    result = crm("invoice", "send", issued, "--no-email", "--to", "a@b.example")
    assert result.exit_code == 2 and "--no-email sends none" in result.stderr
    assert smtp.inbox.envelopes == [] and not (billed / "x.eml").exists()
    assert shown(crm, "invoice", issued)["status"] == "issued"


def test_a_pre_hook_refusing_the_change_stops_the_email_too(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    hook = billed / "hooks" / "pre-add"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\necho 'not on Sundays' >&2\nexit 1\n")
    hook.chmod(0o755)
    assert crm("hooks", "trust", "pre-add").ok
    before = (billed / "invoices" / f"{issued}.yaml").read_bytes()
    result = crm("invoice", "send", issued)
    assert result.exit_code == 25, result.stderr
    assert "not on Sundays" in result.stderr and "sent" not in result.stderr
    no_traceback(result)
    assert smtp.inbox.messages == []
    _unchanged(billed, issued, before)


# -- after review -----------------------------------------------------------------------------


def _kept(billed: Path, rid: str) -> Path:
    return billed / "invoices" / load(billed / "invoices" / f"{rid}.yaml")["document"]["file"]


def test_invoice_send_sends_the_kept_document_as_issued_or_nothing(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    kept = _kept(billed, issued)
    original = kept.read_bytes()
    before = (billed / "invoices" / f"{issued}.yaml").read_bytes()
    kept.write_bytes(original + b"<p>pay to another account</p>")
    result = crm("invoice", "send", issued)
    assert result.exit_code == 4 and result.stderr.count("\n") == 1, result.stderr
    assert f"invoices/{kept.name}: does not match the sha256" in result.stderr
    no_traceback(result)
    secret = billed.parent / "secret.txt"
    secret.write_text("the secret\n")
    kept.unlink()
    kept.symlink_to(secret)
    result = crm("invoice", "send", issued)
    assert result.exit_code == 4 and "is a link to a file outside the CRM folder" in result.stderr
    kept.unlink()
    result = crm("invoice", "send", issued)
    assert result.exit_code == 4
    assert "is missing, so there is nothing to attach" in result.stderr
    assert "rendering the document again" not in result.stderr
    assert smtp.inbox.envelopes == []
    _unchanged(billed, issued, before)
    kept.write_bytes(original)
    assert crm("invoice", "send", issued).ok
    assert attachment(smtp.inbox.messages[0])[1] == original.decode()


@pytest.mark.parametrize(
    "name",
    ["Dr. Sabine Koch", "Ada (Acme GmbH)", 'Ada "The Countess" Lovelace', "Koch, Sabine; Dr."],
)
def test_names_that_look_like_header_syntax_go_out_as_they_are(crm, billed, issued, smtp, name):
    mail_settings(billed, smtp.port)
    assert crm("contact", "set", "ada-lovelace", f"name={name}").ok
    result = crm("invoice", "send", issued)
    assert result.ok, result.stderr
    (envelope,) = smtp.inbox.envelopes
    assert envelope.rcpt_tos == ["ada@acme.example"]
    (message,) = smtp.inbox.messages
    (address,) = message["To"].addresses
    assert address.display_name == name and address.addr_spec == "ada@acme.example"
    assert f"Dear {name}," in body(message)


def test_eml_is_never_written_into_the_folder(crm, billed, issued, smtp, tmp_path):
    mail_settings(billed, smtp.port)
    record = billed / "contacts" / "ada-lovelace.yaml"
    before = {p: p.read_bytes() for p in (record, billed / "crm.yaml")}
    for target in ("contacts/ada-lovelace.yaml", "crm.yaml", str(billed / "invoices" / "x.eml")):
        result = crm("invoice", "send", issued, "--dry-run", "--eml", target)
        assert result.exit_code == 2, (target, result.stderr)
        assert f"--eml {target}: is inside the CRM folder" in result.stderr
        no_traceback(result)
    link = tmp_path / "link.eml"
    link.symlink_to(record)  # judged by where it leads
    assert crm("invoice", "send", issued, "--dry-run", "--eml", str(link)).exit_code == 2
    assert {p: p.read_bytes() for p in before} == before
    folder = crm("invoice", "send", issued, "--dry-run", "--eml", str(tmp_path))
    assert folder.exit_code == 2 and f"--eml {tmp_path}: is a folder" in folder.stderr
    assert crm("invoice", "send", issued, "--dry-run", "--eml", "mine.eml").ok  # at its top
    assert (billed / "mine.eml").is_file()
    assert crm("invoice", "send", issued, "--dry-run", "--eml", str(tmp_path / "a.eml")).ok
    assert smtp.inbox.envelopes == []


def test_remind_writes_its_copy_only_once_sent_and_never_into_the_folder(
    crm, billed, issued, monkeypatch
):
    monkeypatch.setenv("CRM_NOW", "2026-12-15T10:00:00")
    mail_settings(billed, free_port())  # nobody listens
    result = crm("invoice", "remind", issued, "-o", "copy.html")
    assert result.exit_code == 26
    assert not (billed / "copy.html").exists()
    kept = _kept(billed, issued)
    original = kept.read_bytes()
    for args in (("-o", f"invoices/{kept.name}"), ("--no-email", "-o", f"invoices/{kept.name}")):
        result = crm("invoice", "remind", issued, *args)
        assert result.exit_code == 2, result.stderr
        assert "is inside the CRM folder" in result.stderr
    assert crm("invoice", "render", issued, "-o", f"invoices/{kept.name}").exit_code == 2
    assert kept.read_bytes() == original
    assert "reminders" not in load(billed / "invoices" / f"{issued}.yaml")


def test_a_server_without_a_login_says_so(crm, billed, issued, smtp, monkeypatch):
    mail_settings(billed, smtp.port, user="studio")  # the server offers no AUTH
    monkeypatch.setenv("CRM_SMTP_PASSWORD", PASSWORD)
    result = crm("invoice", "send", issued)
    assert result.exit_code == 26
    assert "does not offer a login (AUTH), and mail.user is set" in result.stderr
    assert "STARTTLS" not in result.stderr.split("(")[0]
    assert smtp.inbox.envelopes == []


def _echoing(server, session, envelope, mechanism, auth_data):
    """A server that repeats what it was given in its refusal."""
    import base64

    secret = auth_data.password
    plain = base64.b64encode(b"\0studio\0" + secret).decode()
    said = f"535 5.7.8 no: {secret!r} {secret.decode()} {base64.b64encode(secret).decode()} {plain}"
    return AuthResult(success=False, handled=False, message=said)


def test_the_password_never_shows_in_any_form(crm, billed, issued, monkeypatch):
    controller, server = _serve(authenticator=_echoing, auth_require_tls=False)
    try:
        mail_settings(billed, server.port, user="studio")
        monkeypatch.setenv("CRM_SMTP_PASSWORD", PASSWORD)
        result = crm("invoice", "send", issued)
    finally:
        controller.stop()
    assert result.exit_code == 26 and "refused the login as studio" in result.stderr
    import base64

    raw = PASSWORD.encode()
    for form in (
        PASSWORD,
        repr(raw)[2:-1],
        base64.b64encode(raw).decode(),
        base64.b64encode(b"\0studio\0" + raw).decode(),
    ):
        assert form not in result.stderr
    assert "***" in result.stderr


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ("{{ 'x' * 10**12 }}", "a repeated text or list would be larger than a template may make"),
        ("{{ 7 ** 1000000000 }}", "a power would be larger than a template may make"),
        ("{% include 'invoice_email.subject.j2' %}", "nest too deep (does it include itself?)"),
        ("{% include '../crm.yaml' %}", "it includes '../crm.yaml', which is no template"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}",
            "a joined text (~) would be larger than a template may make",
        ),
        ("{% for i in range(20000) %}{{ 'y' * 999 }}{% endfor %}", "longer than 10,000,000"),
    ],
)
def test_hostile_templates_are_one_clear_error(crm, billed, issued, smtp, template, said):
    mail_settings(billed, smtp.port)
    templates = billed / "templates"
    templates.mkdir()
    (templates / "invoice_email.subject.j2").write_text(template)
    result = crm("invoice", "send", issued, "--dry-run")
    assert result.exit_code == 22, result.stderr
    assert result.stderr.count("\n") == 1 and said in result.stderr
    assert result.stderr.startswith("Error: template invoice_email.subject.j2")
    no_traceback(result)
