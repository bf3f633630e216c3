"""Record types and their fields: one schema drives options, key order, validation, output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"  # one line
    LONGTEXT = "longtext"  # several lines (notes)
    EMAIL = "email"
    EMAILS = "emails"  # a list of email addresses
    PHONES = "phones"  # a list of phone numbers
    URL = "url"
    DOMAIN = "domain"
    VAT_ID = "vat_id"  # a VAT id, checked by its country's rules: DE298765435, ATU13585627
    DATE = "date"
    TIMESTAMP = "timestamp"
    MONEY = "money"
    CURRENCY = "currency"
    PERCENT = "percent"  # an integer 0..100
    NUMBER = "number"
    BOOL = "bool"
    CHOICE = "choice"
    STAGE = "stage"  # a stage of the deal's pipeline, declared in crm.yaml
    PIPELINE = "pipeline"  # a pipeline declared in crm.yaml
    REF = "ref"  # the id of another record
    REFS = "refs"  # ids of other records of one type
    WHEN = "when"  # a date, or a date and time (a task's due)
    MINUTES = "minutes"  # a duration in whole minutes
    HOURS = "hours"  # a number of hours as a quoted decimal: "1.5" (tracked time)
    CADENCE = "cadence"  # a keep-in-touch interval: 2w, 1m, 3m
    REPEAT = "repeat"  # daily, weekly, monthly, yearly or an RRULE
    RATE = "rate"  # a tax rate in percent: 19, 7.7, 0
    LINES = "lines"  # the priced lines of a quote, invoice or credit note
    PAYMENTS = "payments"  # payments received: date, amount, method, reference
    DOCUMENT = "document"  # the file rendered at issue and its SHA-256, kept by crm
    SCHEDULE = "schedule"  # when a recurring invoice falls due: monthly, quarterly, ...
    ENTRIES = "entries"  # a list of mappings kept by crm (reminders sent, periods invoiced)
    DAYS = "days"  # a whole number of days
    TAGS = "tags"
    ADDRESS = "address"
    CUSTOM = "custom"  # the mapping of custom fields declared in crm.yaml
    HISTORY = "history"  # dated stage or status changes, kept by crm
    LINKS = "links"  # what a converted lead became, kept by crm
    BIRTHDAY = "birthday"  # YYYY-MM-DD, or --MM-DD when the year is not known
    EXTERNAL = "external"  # ids in other systems (vcard UID, salesforce, hubspot): for re-import
    EXTRA = "extra"  # vCard lines with no field of ours, kept as they were for export
    FILE = "file"  # a file kept beside the record (a contact's photo), kept by crm
    FIRED = "fired"  # when each time-based automation rule fired for the record, kept by crm


LIST_KINDS = frozenset({Kind.EMAILS, Kind.PHONES, Kind.TAGS, Kind.REFS})
ADDRESS_KEYS = ("street", "postcode", "city", "region", "country")
LEAD_STATUSES = ("new", "contacted", "qualified", "unqualified", "junk", "converted")
ACTIVITY_TYPES = ("call", "email", "meeting", "note")
TASK_STATUSES = ("open", "done")
PRIORITIES = ("high", "medium", "low")
REGIMES = ("standard", "reverse_charge", "small_business")
QUOTE_STATUSES = ("draft", "sent", "accepted", "declined")
INVOICE_STATUSES = ("draft", "issued", "sent")
TIME_SOURCES = ("toggl", "clockify", "timewarrior", "timeclock")


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    name: str
    kind: Kind
    help: str = ""
    required: bool = False
    target: str | None = None  # for REF: the record type referred to
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # `email` for `emails`, as people type it
    writable: bool = True  # false for the timestamps the tool keeps itself

    @property
    def is_list(self) -> bool:
        return self.kind in LIST_KINDS


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordType:
    name: str  # contact
    plural: str  # contacts: also the folder's name
    title: str  # the field that names a record: name or title
    fields: tuple[Field, ...]
    columns: tuple[str, ...]  # default columns of `list`

    def field(self, name: str) -> Field | None:
        """The field called `name` or one of its aliases."""
        for f in self.fields:
            if f.name == name or name in f.aliases:
                return f
        return None

    @property
    def key_order(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def refs(self) -> tuple[Field, ...]:
        """Fields that hold ids of other records: one (REF) or several (REFS)."""
        found = _REFS.get(self.name)
        if found is None or found[0] is not self.fields:
            found = _REFS[self.name] = (
                self.fields,
                tuple(f for f in self.fields if f.kind in (Kind.REF, Kind.REFS)),
            )
        return found[1]


# RecordType.refs() by type name (asked once per record in folder-wide checks)
_REFS: dict[str, tuple[tuple[Field, ...], tuple[Field, ...]]] = {}


def _fired() -> Field:
    """When each time-based rule (crm.yaml `rules:`) fired for the record: it never fires again."""
    return Field(
        name="fired",
        kind=Kind.FIRED,
        writable=False,
        help="When each time-based rule fired for the record (kept by `crm rules run`).",
    )


def _common_tail(*kept: Field) -> tuple[Field, ...]:
    """Tags, notes, custom fields, then fields crm keeps (`kept`), then the timestamps."""
    return (
        Field(name="tags", kind=Kind.TAGS, aliases=("tag",), help="Tags (repeatable)."),
        Field(name="notes", kind=Kind.LONGTEXT, aliases=("note",), help="Free-form notes."),
        Field(name="custom", kind=Kind.CUSTOM, help="Custom fields declared in crm.yaml."),
        *kept,
        _fired(),
        Field(name="created", kind=Kind.TIMESTAMP, writable=False),
        Field(name="updated", kind=Kind.TIMESTAMP, writable=False),
    )


def _emails() -> Field:
    return Field(name="emails", kind=Kind.EMAILS, aliases=("email",), help="Email address.")


def _phones() -> Field:
    return Field(name="phones", kind=Kind.PHONES, aliases=("phone",), help="Phone number.")


def _address() -> Field:
    return Field(name="address", kind=Kind.ADDRESS, help="Postal address.")


def _billing() -> tuple[Field, ...]:
    """How a customer is invoiced."""
    return (
        Field(name="vat_id", kind=Kind.VAT_ID, help="VAT id, e.g. DE298765435."),
        Field(name="payment_terms", kind=Kind.DAYS, help="Days to pay (default: crm.yaml's)."),
        Field(
            name="tax_regime",
            kind=Kind.CHOICE,
            choices=REGIMES,
            help="standard, reverse_charge or small_business (default: crm.yaml's).",
        ),
        Field(
            name="einvoice",
            kind=Kind.CHOICE,
            choices=("none", "facturx"),
            help="facturx: their invoices are Factur-X e-invoices (default: crm.yaml's).",
        ),
        Field(
            name="buyer_reference",
            kind=Kind.TEXT,
            help="Their reference for e-invoices (BT-10, e.g. a Leitweg-ID).",
        ),
    )


def _touch() -> tuple[Field, ...]:
    return (
        Field(name="cadence", kind=Kind.CADENCE, help="Keep in touch every 2w, 1m, 3m, ..."),
        Field(name="touch_after", kind=Kind.DATE, help="No touch reminder before this date."),
    )


def _external() -> Field:
    return Field(
        name="external_ids",
        kind=Kind.EXTERNAL,
        writable=False,
        help="Ids of this record in other systems, so that a re-import updates it.",
    )


def _links() -> tuple[Field, ...]:
    """The records an activity or a task is about."""
    return tuple(
        Field(
            name=plural, kind=Kind.REFS, target=name, aliases=(name,), help=f"{name.capitalize()}s."
        )
        for name, plural in (
            ("contact", "contacts"),
            ("company", "companies"),
            ("lead", "leads"),
            ("deal", "deals"),
        )
    )


CONTACT = RecordType(
    name="contact",
    plural="contacts",
    title="name",
    fields=(
        Field(name="name", kind=Kind.TEXT, required=True, help="Full name."),
        _emails(),
        _phones(),
        Field(name="title", kind=Kind.TEXT, aliases=("role",), help="Job title or role."),
        Field(name="company", kind=Kind.REF, target="company", help="The company worked for."),
        _address(),
        Field(name="birthday", kind=Kind.BIRTHDAY, help="Birthday: YYYY-MM-DD, or --MM-DD."),
        Field(name="website", kind=Kind.URL, help="Web page."),
        *_billing(),
        *_touch(),
        *_common_tail(
            Field(name="photo", kind=Kind.FILE, writable=False),
            _external(),
            Field(name="vcard", kind=Kind.EXTRA, writable=False),
        ),
    ),
    columns=("id", "name", "emails", "phones", "company", "tags"),
)

COMPANY = RecordType(
    name="company",
    plural="companies",
    title="name",
    fields=(
        Field(name="name", kind=Kind.TEXT, required=True, help="Company name."),
        Field(name="domain", kind=Kind.DOMAIN, help="Internet domain, e.g. acme.com."),
        Field(name="website", kind=Kind.URL, help="Website address."),
        Field(name="industry", kind=Kind.TEXT, help="Industry or sector."),
        _emails(),
        _phones(),
        _address(),
        *_billing(),
        *_touch(),
        *_common_tail(_external()),
    ),
    columns=("id", "name", "domain", "industry", "tags"),
)

LEAD = RecordType(
    name="lead",
    plural="leads",
    title="name",
    fields=(
        Field(name="name", kind=Kind.TEXT, required=True, help="Full name."),
        Field(name="company", kind=Kind.TEXT, help="Company name, as plain text."),
        Field(name="title", kind=Kind.TEXT, aliases=("role",), help="Job title or role."),
        _emails(),
        _phones(),
        Field(name="source", kind=Kind.TEXT, help="Where the lead came from."),
        Field(
            name="status",
            kind=Kind.CHOICE,
            choices=LEAD_STATUSES,
            help="One of: " + ", ".join(LEAD_STATUSES) + ".",
        ),
        Field(name="budget", kind=Kind.MONEY, help="BANT: the budget they have, e.g. 5000."),
        Field(name="authority", kind=Kind.BOOL, help="BANT: whether they decide (yes/no)."),
        Field(name="need", kind=Kind.TEXT, help="BANT: what they need."),
        Field(name="timeline", kind=Kind.TEXT, help="BANT: when they need it (e.g. Q1 2027)."),
        Field(name="last_contact", kind=Kind.DATE, help="When you last spoke (YYYY-MM-DD)."),
        *_common_tail(
            Field(name="converted", kind=Kind.LINKS, writable=False),
            _external(),
            Field(name="history", kind=Kind.HISTORY, writable=False),
        ),
    ),
    columns=("id", "name", "company", "emails", "status", "score", "band", "source"),
)

DEAL = RecordType(
    name="deal",
    plural="deals",
    title="title",
    fields=(
        Field(name="title", kind=Kind.TEXT, required=True, help="What is being sold."),
        Field(name="pipeline", kind=Kind.PIPELINE, help="A pipeline from crm.yaml."),
        Field(name="company", kind=Kind.REF, target="company", help="The buying company."),
        Field(name="contact", kind=Kind.REF, target="contact", help="The main contact."),
        Field(name="value", kind=Kind.MONEY, help="Expected value, e.g. 4500.00."),
        Field(name="currency", kind=Kind.CURRENCY, help="ISO 4217 code; default from crm.yaml."),
        Field(name="stage", kind=Kind.STAGE, help="A stage from crm.yaml."),
        Field(
            name="probability",
            kind=Kind.PERCENT,
            help="Chance of winning, 0-100; default from the stage.",
        ),
        Field(name="close_date", kind=Kind.DATE, help="Expected close date (YYYY-MM-DD)."),
        Field(name="lost_reason", kind=Kind.TEXT, help="Why the deal was lost."),
        *_common_tail(_external(), Field(name="history", kind=Kind.HISTORY, writable=False)),
    ),
    columns=("id", "title", "company", "stage", "value", "currency", "probability", "close_date"),
)


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in the data folder, reported as `path:line: message`."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        # one line each, whatever a value quoted in the message holds (CR, LF, escapes)
        message = "".join(c if c.isprintable() else " " for c in self.message)
        return f"{self.path}:{self.line}: {message}" if self.line else f"{self.path}: {message}"

    def sort_key(self) -> tuple[str, int, str]:
        return (self.path, self.line or 0, self.message)


def line_of(lines: Mapping[str, int], key: str) -> int | None:
    """The line of dotted `key`, or of its nearest parent that has one."""
    while key:
        if key in lines:
            return lines[key]
        key = key.rpartition(".")[0]
    return None


# Fields computed on the fly, never stored: a lead's score and band, a deal's weighted value
# and the days since it entered its stage (crm.views). Filters and sorting know them too.
DERIVED: dict[str, tuple[str, ...]] = {
    "lead": ("score", "band"),
    "deal": ("weighted", "days_in_stage"),
    "quote": ("net", "tax", "total"),
    "invoice": ("net", "tax", "total", "paid", "credited", "amount_due"),
    "credit_note": ("net", "tax", "total"),
    "recurring": ("status", "next"),
}

ACTIVITY = RecordType(
    name="activity",
    plural="activities",
    title="text",
    fields=(
        Field(
            name="type",
            kind=Kind.CHOICE,
            choices=ACTIVITY_TYPES,
            required=True,
            help="call, email, meeting or note.",
        ),
        Field(name="at", kind=Kind.WHEN, required=True, help="When it happened."),
        Field(name="duration", kind=Kind.MINUTES, help="How long, in minutes (30m, 1h)."),
        Field(name="text", kind=Kind.LONGTEXT, required=True, help="What happened."),
        *_links(),
        Field(
            name="invoice",
            kind=Kind.REF,
            target="invoice",
            help="The invoice an email carried (crm invoice send, remind).",
        ),
        Field(name="quote", kind=Kind.REF, target="quote", help="The quote an email carried."),
        Field(name="tags", kind=Kind.TAGS, aliases=("tag",), help="Tags (repeatable)."),
        Field(name="custom", kind=Kind.CUSTOM, help="Custom fields declared in crm.yaml."),
        _fired(),
        Field(name="created", kind=Kind.TIMESTAMP, writable=False),
        Field(name="updated", kind=Kind.TIMESTAMP, writable=False),
    ),
    columns=("id", "at", "type", "text", "contacts", "companies", "deals"),
)

TASK = RecordType(
    name="task",
    plural="tasks",
    title="title",
    fields=(
        Field(name="title", kind=Kind.TEXT, required=True, help="What to do."),
        Field(name="due", kind=Kind.WHEN, help="When it is due: a date, or a date and time."),
        Field(name="status", kind=Kind.CHOICE, choices=TASK_STATUSES, help="open or done."),
        Field(name="priority", kind=Kind.CHOICE, choices=PRIORITIES, help="high, medium or low."),
        Field(name="repeat", kind=Kind.REPEAT, help="daily, weekly, monthly, yearly or an RRULE."),
        Field(name="anchor", kind=Kind.WHEN, writable=False),
        *_links(),
        Field(name="done_at", kind=Kind.TIMESTAMP, writable=False),
        Field(name="next", kind=Kind.REF, target="task", writable=False),
        *_common_tail(),
    ),
    columns=("id", "due", "title", "priority", "status", "contacts", "deals"),
)


def _customer() -> tuple[Field, ...]:
    return (
        Field(name="company", kind=Kind.REF, target="company", help="The customer (a company)."),
        Field(
            name="contact",
            kind=Kind.REF,
            target="contact",
            help="The contact (the customer, when there is no company).",
        ),
    )


def _references() -> tuple[Field, ...]:
    """The customer's references an invoice carries (printed, and in the e-invoice)."""
    return (
        Field(
            name="buyer_reference",
            kind=Kind.TEXT,
            help="The customer's reference (BT-10; default: the customer's).",
        ),
        Field(name="order_reference", kind=Kind.TEXT, help="Their purchase order number."),
    )


def _document_tail(*kept: Field) -> tuple[Field, ...]:
    return (
        Field(name="currency", kind=Kind.CURRENCY, help="ISO 4217 code; default from crm.yaml."),
        Field(
            name="regime",
            kind=Kind.CHOICE,
            choices=REGIMES,
            help="Tax regime: standard, reverse_charge, small_business (default: customer's).",
        ),
        Field(name="lines", kind=Kind.LINES, writable=False),
        Field(name="rounding", kind=Kind.CHOICE, choices=("per_rate", "per_line"), writable=False),
        Field(name="notes", kind=Kind.LONGTEXT, aliases=("note",), help="Printed on the document."),
        Field(name="terms", kind=Kind.LONGTEXT, help="Terms printed on the document."),
        Field(name="tags", kind=Kind.TAGS, aliases=("tag",), help="Tags (repeatable)."),
        Field(name="custom", kind=Kind.CUSTOM, help="Custom fields declared in crm.yaml."),
        *kept,
        _fired(),
        Field(name="created", kind=Kind.TIMESTAMP, writable=False),
        Field(name="updated", kind=Kind.TIMESTAMP, writable=False),
    )


PRODUCT = RecordType(
    name="product",
    plural="products",
    title="name",
    fields=(
        Field(name="name", kind=Kind.TEXT, required=True, help="What you sell."),
        Field(name="unit", kind=Kind.TEXT, help="hour, day, piece, month, ..."),
        Field(name="price", kind=Kind.MONEY, help="Unit price, net."),
        Field(name="currency", kind=Kind.CURRENCY, help="ISO 4217 code; default from crm.yaml."),
        Field(name="tax_rate", kind=Kind.RATE, help="Tax rate in percent; default crm.yaml's."),
        Field(name="description", kind=Kind.LONGTEXT, help="Shown on quotes and invoices."),
        *_common_tail(),
    ),
    columns=("id", "name", "unit", "price", "currency", "tax_rate"),
)

QUOTE = RecordType(
    name="quote",
    plural="quotes",
    title="title",
    fields=(
        Field(name="title", kind=Kind.TEXT, required=True, help="What the quote is for."),
        Field(name="number", kind=Kind.TEXT, writable=False),
        *_customer(),
        Field(name="deal", kind=Kind.REF, target="deal", help="The deal it belongs to."),
        Field(name="status", kind=Kind.CHOICE, choices=QUOTE_STATUSES, writable=False),
        Field(name="issued", kind=Kind.DATE, writable=False),
        Field(name="valid_until", kind=Kind.DATE, help="Valid until (default: 30 days)."),
        Field(name="decided", kind=Kind.DATE, writable=False),
        *_document_tail(Field(name="invoice", kind=Kind.REF, target="invoice", writable=False)),
    ),
    columns=("id", "number", "title", "company", "status", "issued", "total", "currency"),
)

INVOICE = RecordType(
    name="invoice",
    plural="invoices",
    title="title",
    fields=(
        Field(name="title", kind=Kind.TEXT, required=True, help="What the invoice is for."),
        Field(name="number", kind=Kind.TEXT, writable=False),
        *_customer(),
        Field(name="deal", kind=Kind.REF, target="deal", help="The deal it belongs to."),
        Field(name="quote", kind=Kind.REF, target="quote", writable=False),
        Field(name="status", kind=Kind.CHOICE, choices=INVOICE_STATUSES, writable=False),
        Field(name="issued", kind=Kind.DATE, writable=False),
        Field(name="due", kind=Kind.DATE, writable=False),
        Field(name="service_date", kind=Kind.DATE, help="Date of supply, or start of the period."),
        Field(name="service_until", kind=Kind.DATE, help="End of the period of service."),
        *_references(),
        *_document_tail(
            Field(name="payments", kind=Kind.PAYMENTS, writable=False),
            Field(name="reminders", kind=Kind.ENTRIES, writable=False),
            Field(name="recurring", kind=Kind.REF, target="recurring", writable=False),
            Field(name="document", kind=Kind.DOCUMENT, writable=False),
        ),
    ),
    columns=("id", "number", "title", "company", "status", "issued", "due", "total", "currency"),
)

CREDIT_NOTE = RecordType(
    name="credit_note",
    plural="credit_notes",
    title="title",
    fields=(
        Field(name="title", kind=Kind.TEXT, required=True, help="What it corrects."),
        Field(name="number", kind=Kind.TEXT, writable=False),
        Field(name="invoice", kind=Kind.REF, target="invoice", writable=False),
        *_customer(),
        Field(name="status", kind=Kind.CHOICE, choices=("draft", "issued"), writable=False),
        Field(name="issued", kind=Kind.DATE, writable=False),
        Field(name="reason", kind=Kind.TEXT, help="Why the invoice is corrected."),
        *_references(),
        *_document_tail(
            # on the note crediting an invoice's last lines: exactly what it still carried
            Field(name="taxes", kind=Kind.ENTRIES, writable=False),
            Field(name="document", kind=Kind.DOCUMENT, writable=False),
        ),
    ),
    columns=("id", "number", "invoice", "company", "issued", "total", "currency"),
)

RECURRING = RecordType(
    name="recurring",
    plural="recurring",
    title="title",
    fields=(
        Field(name="title", kind=Kind.TEXT, required=True, help="What is invoiced each time."),
        *_customer(),
        Field(
            name="schedule",
            kind=Kind.SCHEDULE,
            required=True,
            help="monthly, quarterly, yearly, or an RRULE; on the day of --start.",
        ),
        Field(name="start", kind=Kind.DATE, required=True, help="The first period starts here."),
        Field(name="end", kind=Kind.DATE, help="No periods start after this date."),
        Field(name="paused", kind=Kind.BOOL, help="yes: invoice nothing until unpaused."),
        Field(name="paused_since", kind=Kind.DATE, writable=False),
        Field(name="issue", kind=Kind.BOOL, help="yes: issue the invoices it creates."),
        *_document_tail(Field(name="invoiced", kind=Kind.ENTRIES, writable=False)),
    ),
    columns=("id", "title", "company", "schedule", "status", "next"),
)

TIME = RecordType(
    name="time",
    plural="time",
    title="description",
    fields=(
        Field(name="description", kind=Kind.TEXT, help="What was done."),
        Field(name="start", kind=Kind.WHEN, required=True, help="When the work started."),
        Field(name="end", kind=Kind.WHEN, help="When it ended."),
        Field(name="hours", kind=Kind.HOURS, required=True, help="Hours worked, e.g. 1.5."),
        Field(name="project", kind=Kind.TEXT, help="The project, as the time tracker names it."),
        Field(name="client", kind=Kind.TEXT, help="The client, as the time tracker names it."),
        Field(name="task", kind=Kind.TEXT, help="The task, as the time tracker names it."),
        Field(name="user", kind=Kind.TEXT, help="Who tracked it (a team's export)."),
        Field(name="billable", kind=Kind.BOOL, help="yes: to be invoiced; no: never invoiced."),
        *_customer(),
        Field(name="product", kind=Kind.REF, target="product", help="The product it is billed as."),
        Field(name="rate", kind=Kind.MONEY, help="Hourly rate, net (default: the product's)."),
        Field(
            name="source",
            kind=Kind.CHOICE,
            choices=TIME_SOURCES,
            writable=False,
            help="The time tracker it was imported from.",
        ),
        *_common_tail(
            _external(),
            Field(name="invoice", kind=Kind.REF, target="invoice", writable=False),
        ),
    ),
    columns=("id", "start", "hours", "company", "project", "description", "invoice"),
)

RECORD_TYPES: dict[str, RecordType] = {
    t.name: t
    for t in (
        CONTACT,
        COMPANY,
        LEAD,
        DEAL,
        ACTIVITY,
        TASK,
        PRODUCT,
        QUOTE,
        INVOICE,
        CREDIT_NOTE,
        RECURRING,
        TIME,
    )
}


def record_type(name: str) -> RecordType:
    """The type called `name`, singular or plural (`contact`, `contacts`)."""
    for t in RECORD_TYPES.values():
        if name in (t.name, t.plural):
            return t
    raise KeyError(name)
