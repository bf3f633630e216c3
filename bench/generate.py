"""Generate a realistic CRM data folder for the benchmark.

    python bench/generate.py DIR --records 10000 [--seed 1] [--today 2026-11-23] [--git]
    python bench/generate.py --csv contacts.csv --rows 10000

The folder is what a freelancer's CRM looks like after some years: a few hundred companies, their
contacts, leads, deals spread over the pipeline of examples/crm.yaml in three currencies with
their history, many activities, tasks due around today, a product catalogue and invoices (drafts,
paid, partly paid, overdue, with gapless numbers and the documents kept at issue). Some files
carry comments and keys crm does not know, as hand-edited files do. It passes `crm check`.

Files are written directly as text, not through crm, so that 100,000 records take seconds. The
output depends only on the record count, the seed and the date taken as today.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "crm.yaml"

# Shares of the records after the product catalogue; activities take what is left. A CRM kept
# for years is mostly its log of calls, emails and meetings.
SHARES = {
    "companies": 0.04,
    "contacts": 0.12,
    "leads": 0.05,
    "deals": 0.08,
    "tasks": 0.10,
    "invoices": 0.08,
}
YEARS = 6  # how far back the history of the folder goes
OPEN_STAGES = ("lead", "qualified", "proposal", "negotiation")
PAYMENT_TERMS = 14  # billing.payment_terms of examples/crm.yaml
NUMBERING = "{year}-{seq:04}"  # billing.numbering.invoice of examples/crm.yaml


def _words(text: str) -> tuple[str, ...]:
    """The words of `text`: long name pools read better as running text."""
    return tuple(text.split())


FIRST = _words(
    "Ada Anna Ayşe Ben Birgit Carla Clara Daniel Dirk Elif Emma Eva Fatma Felix Finn Frank Frieda "
    "Greta Hannes Heike Henrik Ines Inken Jan Jana Jens Jonas Jürgen Karin Katrin Kevin Lars Lea "
    "Lena Leon Lukas Maja Malte Mareike Marie Max Mia Moritz Nele Niklas Nora Olena Ole Paul Petra "
    "Priya Reto Sabine Sophie Søren Stefan Svenja Tianzhong Tim Tom Ulrike Uwe Zoë Zoran Émile "
    "Björn Chloé Dmytro Giulia José Małgorzata Noah Oskar Rasmus Renée Timo Wiebke Yusuf"
)
LAST = _words(
    "Albers Becker Brandt Brunner Carstens Christensen Demir Dittmer Favre Fischer Hansen Hartmann "
    "Hinrichs Hoffmann Jansen Keller Koch Kovalenko Krüger Laurent Lindqvist Løvholm Meyer Miller "
    "Möller O'Connor Olsen Petersen Raman Richter Schmidt Schröder Schulz Sommer Thomsen Vogel "
    "Wagner Weber Weiß Wilson Wolf Yılmaz Ziegler de-Vries Nowak Rossi García Müller Bauer "
    "Jacobsen Lorenzen Paulsen Sørensen Timm Claußen Bergmann Haas Lange Engel Kaiser"
)
PREFIXES = _words(
    "Alster Elbe Hafen Nordlicht Speicher Fleet Kiez Deich Möwen Leuchtturm Sandtor Ottensen "
    "Eppendorf Altona Blankenese Wandsbek Bergsicht Seeblick Grünwerk Lindenhof Brückenhof Kranich "
    "Anker Kompass Werft Dünen Heide Marsch Backstein Kontor"
)
TRADES = _words(
    "Physio Weinhandel Architekten Zahnarztpraxis Yoga Kaffeerösterei Buchhandlung Fahrradladen "
    "Reisebüro Hotels Kanzlei Tischlerei Galerie Verlag Bäckerei Immobilien Steuerberatung "
    "Brauerei Gärtnerei Fotostudio Tanzschule Feinkost Optik Catering Kinderhilfe"
)
LEGAL = ("GmbH", "GmbH", "AG", "KG", "e.K.", "", "", "GmbH & Co. KG", "e.V.", "UG")
INDUSTRIES = {
    "Physio": "Healthcare",
    "Zahnarztpraxis": "Healthcare",
    "Optik": "Healthcare",
    "Weinhandel": "Retail",
    "Buchhandlung": "Retail",
    "Fahrradladen": "Retail",
    "Feinkost": "Retail",
    "Hotels": "Hospitality",
    "Catering": "Hospitality",
    "Bäckerei": "Food",
    "Kaffeerösterei": "Food",
    "Brauerei": "Food",
}
# (country, currency, cities, phone prefix); the weights are how often a customer is from there.
COUNTRIES = (
    ("DE", "EUR", ("Hamburg", "Lübeck", "Kiel", "Bremen", "Berlin", "Lüneburg"), "+49 40", 70),
    ("AT", "EUR", ("Wien", "Graz", "Salzburg"), "+43 1", 7),
    ("NL", "EUR", ("Amsterdam", "Groningen"), "+31 20", 5),
    ("CH", "CHF", ("Zürich", "Bern", "Luzern", "St. Gallen"), "+41 44", 10),
    ("US", "USD", ("New York", "Portland", "Austin"), "+1 503", 8),
)
# How each country writes its VAT ids (# a digit); the check digits are found by trying.
VAT_FORMATS = {
    "DE": "DE#########",
    "AT": "ATU########",
    "NL": "NL#########B01",
    "CH": "CHE######### MWST",
}


def vat_id(rng: random.Random, country: str) -> str | None:
    """A VAT id of `country` that passes its check digits (None where there is no VAT)."""
    from stdnum import vatin

    pattern = VAT_FORMATS.get(country)
    if pattern is None:
        return None
    while True:
        candidate = "".join(str(rng.randint(1, 9)) if ch == "#" else ch for ch in pattern)
        if vatin.is_valid(candidate):
            return candidate


STREETS = (
    "Schanzenstraße",
    "Mühlenkamp",
    "Große Elbstraße",
    "Osterstraße",
    "Lange Reihe",
    "Bahrenfelder Straße",
    "Hauptstraße",
    "Kirchweg",
    "Am Sandtorkai",
    "Holstenstraße",
    "Eppendorfer Weg",
    "Stresemannstraße",
)
TITLES = (
    "Inhaberin",
    "Inhaber",
    "Geschäftsführerin",
    "Geschäftsführer",
    "Head of Marketing",
    "Marketing Manager",
    "Office Manager",
    "CTO",
    "Praxisleitung",
    "Projektleiterin",
    "Assistant to the CEO",
    "Head of Digital",
    "Texterin (freelance)",
    "Buyer",
)
TOPICS = (
    "the website relaunch",
    "the new shop",
    "the logo refresh",
    "the newsletter template",
    "hosting and maintenance",
    "the booking form",
    "the photo shoot",
    "SEO for the local pages",
    "the accessibility audit",
    "the landing page",
    "the annual report",
    "the intranet",
    "the Google profile",
    "the price list",
)
DEAL_TITLES = (
    "Website relaunch",
    "Online shop",
    "Logo refresh",
    "Newsletter template",
    "Booking portal",
    "Landing page",
    "Accessibility audit",
    "SEO for the local pages",
    "Corporate design",
    "Intranet",
    "Hosting and maintenance",
    "Photo shoot and image editing",
    "Annual report layout",
    "Shop migration to Shopify",
)
LOST_REASONS = (
    "price",
    "timing",
    "went with an agency",
    "no budget",
    "no answer",
    "did it in-house",
)
SOURCES = ("website", "referral", "event", "linkedin", "newsletter", "cold call")
NEEDS = (
    "A new website",
    "An online shop",
    "A booking portal in several languages",
    "A refreshed logo and business cards",
    "Faster pages and better search ranking",
    "A newsletter they can send themselves",
)
TIMELINES = ("Q1 2027", "before the summer", "this year", "next spring", "unclear", "in 2027")
NOTES = (
    "Prefers email. Decides on budget herself.",
    "Met at the Local Heroes market. Call before noon.",
    "Referred by an existing client.\nWants everything in German and English.",
    "Slow to answer; a phone call works better than email.",
    "Pays on time. Likes short meetings with a clear agenda.",
    "Old contact from the agency days.\nAsk about the second location next time.",
)
ACTIVITY_TEXTS = {
    "call": (
        "Called {first} about {topic}.",
        "Short call with {first}: {topic} is on hold until the budget is approved.",
        "{first} called back; wants a second option for {topic}.",
    ),
    "email": (
        "Sent {first} the proposal for {topic}.",
        "Reply from {first}: questions about {topic}.\nAnswered the same day.",
        "Reminded {first} of the open points for {topic}.",
    ),
    "meeting": (
        "Kickoff with {first} for {topic}.\nAgreed on three design directions.",
        "Workshop with {first} and the team about {topic}.",
        "Coffee with {first}; {topic} may start in spring.\nSend a rough estimate.",
    ),
    "note": (
        "{first} mentioned {topic} again; keep in mind for the next call.",
        "Idea for {topic}: reuse the photo set from last year.",
    ),
}
TASK_TITLES = (
    "Call {first} about {topic}",
    "Send {first} the offer for {topic}",
    "Follow up on {topic} with {first}",
    "Prepare the workshop on {topic}",
    "Ask {first} for the texts of {topic}",
)
PRODUCTS = (
    ("design-hour", "Design, per hour", "hour", "95.00", "EUR"),
    ("development-hour", "Development, per hour", "hour", "105.00", "EUR"),
    ("design-day", "Design, per day", "day", "720.00", "EUR"),
    ("workshop", "Workshop, half day", "piece", "480.00", "EUR"),
    ("hosting-month", "Hosting, per month", "month", "25.00", "EUR"),
    ("shop-care-month", "Shop care, per month", "month", "180.00", "EUR"),
    ("seo-audit", "SEO audit", "piece", "900.00", "EUR"),
    ("accessibility-audit", "Accessibility audit", "piece", "1500.00", "EUR"),
    ("photo-day", "Photo shoot, per day", "day", "1100.00", "EUR"),
    ("copywriting-page", "Copywriting, per page", "page", "140.00", "EUR"),
    ("design-hour-chf", "Design, per hour (CHF)", "hour", "110.00", "CHF"),
    ("design-hour-usd", "Design, per hour (USD)", "hour", "115.00", "USD"),
)
DIRS = _words(
    "companies contacts leads deals activities tasks products quotes invoices credit_notes "
    "recurring"
)


# --- writing YAML by hand -------------------------------------------------------------------

_PLAIN = re.compile(r"(?:[^\W\d_]|\+\d+ )[\w .,'&()/+!?%@-]*")
_YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}


def q(text: str) -> str:
    """A YAML scalar that reads back as `text` in YAML 1.1 and 1.2: plain when it is safe."""
    if (
        _PLAIN.fullmatch(text)
        and text.lower() not in _YAML_WORDS
        and not text.endswith(" ")
        and " #" not in text
    ):
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a double-quoted YAML one


def block(key: str, text: str, indent: str = "") -> str:
    """`key: value`, as a literal block when the text has several lines."""
    if "\n" not in text:
        return f"{indent}{key}: {q(text)}\n"
    body = "".join(f"{indent}  {line}\n" for line in text.split("\n"))
    return f"{indent}{key}: |-\n{body}"


def items(key: str, values: Iterable[str]) -> str:
    """A block list, or nothing when empty."""
    values = list(values)
    if not values:
        return ""
    return f"{key}:\n" + "".join(f"  - {q(v)}\n" for v in values)


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def slug(text: str, limit: int = 40) -> str:
    """An id as crm makes them: ASCII words joined by hyphens, cut at a word near `limit`."""
    text = text.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("ł", "l")
    text = text.replace("ı", "i").replace("&", " ")
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_.lower())
    out = ""
    for word in words:
        if out and len(out) + 1 + len(word) > limit:
            break
        out = f"{out}-{word}" if out else word
    return out[:limit] or "record"


class Ids:
    """Unique ids within one record type, the second `x` becoming `x-2` as crm does it."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, text: str, limit: int = 40) -> str:
        base = slug(text, limit)
        rid, n = base, 1
        while rid in self.used:
            n += 1
            rid = f"{base}-{n}"
        self.used.add(rid)
        return rid


# --- the generated world ---------------------------------------------------------------------


@dataclass
class Company:
    id: str
    name: str
    domain: str
    country: str
    currency: str
    city: str
    phone: str
    created: dt.datetime
    terms: int
    foreign: bool
    contacts: list[Contact] = field(default_factory=list)
    deals: list[str] = field(default_factory=list)
    won: list[str] = field(default_factory=list)


@dataclass
class Contact:
    id: str
    name: str
    first: str
    email: str
    company: Company | None
    created: dt.datetime


@dataclass
class Manifest:
    """What the benchmark needs to know about a generated folder."""

    records: int
    counts: dict[str, int]
    contact: str  # a contact with activities, deals and invoices, for `contact show`
    open_deals: list[str]  # for `deal move`
    drafts: list[str]  # draft invoices, one per `invoice issue`
    search: str  # a word that occurs in many records

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, ensure_ascii=False)


def counts_for(records: int, drafts: int) -> dict[str, int]:
    """How many records of each type make about `records` in total."""
    products = min(len(PRODUCTS), max(6, records // 2000))
    rest = max(records - products, 50)
    counts = {k: max(3, round(rest * share)) for k, share in SHARES.items()}
    counts["invoices"] = max(counts["invoices"], drafts + 5)
    counts["activities"] = max(10, rest - sum(counts.values()))
    counts["products"] = products
    return counts


class Generator:
    """Writes one folder; every random choice comes from one seeded generator, in order."""

    def __init__(self, out: Path, records: int, seed: int, today: dt.date, drafts: int) -> None:
        self.out = out
        self.rng = random.Random(seed)
        self.today = today
        self.now = dt.datetime.combine(today, dt.time(9, 0), tzinfo=dt.UTC)
        self.start = self.now - dt.timedelta(days=365 * YEARS)
        self.counts = counts_for(records, drafts)
        self.drafts = drafts
        self.companies: list[Company] = []
        self.contacts: list[Contact] = []
        self.deals_open: list[str] = []
        self.deals_by_contact: dict[str, list[str]] = {}
        self.weights: list[float] = []  # cumulative: a few clients get most of the activity

    # helpers

    def when(self, after: dt.datetime | None = None) -> dt.datetime:
        """A moment between `after` (default: the folder's start) and now; the folder grew over
        the years, so recent moments are likelier."""
        lo = after or self.start
        span = (self.now - lo).total_seconds()
        moment = lo + dt.timedelta(seconds=span * self.rng.random() ** 0.6)
        return moment.replace(hour=self.rng.randint(7, 18), minute=self.rng.choice((0, 15, 30, 45)))

    def later(self, moment: dt.datetime, lo: int, hi: int) -> dt.datetime:
        """A moment `lo` to `hi` days after `moment`, never after now."""
        return min(moment + dt.timedelta(days=self.rng.randint(lo, hi), hours=1), self.now)

    def write(self, folder: str, rid: str, text: str) -> None:
        with open(self.out / folder / f"{rid}.yaml", "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    def person(self) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        return first, f"{first} {last.replace('-', ' ')}"

    def a_contact(self) -> Contact:
        """A contact, mostly one of the busy clients."""
        i = bisect.bisect(self.weights, self.rng.random() * self.weights[-1])
        return self.contacts[min(i, len(self.contacts) - 1)]

    # the records

    def run(self) -> Manifest:
        for folder in DIRS:
            (self.out / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CONFIG, self.out / "crm.yaml")
        (self.out / ".gitignore").write_text(".crm/\n", encoding="utf-8")
        self.products()
        self.make_companies()
        self.make_contacts()
        self.make_deals()
        self.make_leads()
        self.make_activities()
        self.make_tasks()
        drafts = self.make_invoices()
        best = max(self.contacts, key=lambda c: len(self.deals_by_contact.get(c.id, ())))
        return Manifest(
            records=sum(self.counts.values()),
            counts=self.counts,
            contact=best.id,
            open_deals=self.deals_open[:50],
            drafts=drafts,
            search=self.search_word(),
        )

    def search_word(self) -> str:
        """A surname many records share, so that search has work to do."""
        for c in self.contacts:
            word = c.name.split()[-1]
            if word.isascii() and len(word) > 4:
                return word.lower()
        return "hamburg"

    def products(self) -> None:
        for pid, name, unit, price, currency in PRODUCTS[: self.counts["products"]]:
            created = stamp(self.start + dt.timedelta(days=self.rng.randint(0, 60)))
            text = f"name: {q(name)}\nunit: {unit}\nprice: {json.dumps(price)}\n"
            if currency != "EUR":
                text += f"currency: {currency}\n"
            text += f'tax_rate: "19"\ncreated: {created}\nupdated: {created}\n'
            self.write("products", pid, text)

    def make_companies(self) -> None:
        ids = Ids()
        names: set[str] = set()
        weights = [c[4] for c in COUNTRIES]
        for _ in range(self.counts["companies"]):
            trade = self.rng.choice(TRADES)
            country, currency, cities, prefix, _w = self.rng.choices(COUNTRIES, weights)[0]
            city = self.rng.choice(cities)
            name = " ".join(
                p for p in (self.rng.choice(PREFIXES), trade, self.rng.choice(LEGAL)) if p
            )
            if name in names:
                name = f"{name} {city}"
            names.add(name)
            rid = ids.make(name)
            created = self.when()
            terms = self.rng.choice((14, 14, 14, 30)) if country in ("DE", "AT") else 30
            phone = f"{prefix} {self.rng.randint(200, 899)} {self.rng.randint(1000, 9999)}"
            company = Company(
                rid,
                name,
                f"{rid}.example",
                country,
                currency,
                city,
                phone,
                created,
                terms,
                currency != "EUR" or country != "DE",
            )
            self.companies.append(company)
            self.write("companies", rid, self.company_text(company, trade))

    def company_text(self, c: Company, trade: str) -> str:
        rng = self.rng
        parts = []
        if rng.random() < 0.05:
            parts.append("# Moved over from the old address book; check the address.\n")
        parts.append(f"name: {q(c.name)}\ndomain: {c.domain}\n")
        if rng.random() < 0.5:
            parts.append(f"website: https://www.{c.domain}\n")
        parts.append(f"industry: {INDUSTRIES.get(trade, 'Services')}\n")
        parts.append(items("phones", [c.phone]))
        parts.append(
            f"address:\n  street: {q(f'{rng.choice(STREETS)} {rng.randint(1, 120)}')}\n"
            f'  postcode: "{rng.randint(10000, 99999)}"\n  city: {q(c.city)}\n'
            f"  country: {c.country}\n"
        )
        if c.foreign:
            vat = vat_id(rng, c.country)
            if vat:
                parts.append(f"vat_id: {q(vat)}\n")
            parts.append("tax_regime: reverse_charge\n")
        elif rng.random() < 0.6:
            parts.append(f"vat_id: {vat_id(rng, 'DE')}\n")
        if c.terms != PAYMENT_TERMS:
            parts.append(f"payment_terms: {c.terms}\n")
        if rng.random() < 0.08:
            parts.append(f"founded: {rng.randint(1950, 2020)}\n")  # a key crm does not know
        tag = rng.choices(("client", "prospect", "partner", ""), (5, 3, 1, 2))[0]
        parts.append(items("tags", [tag] if tag else []))
        custom = f"custom:\n  employees: {rng.choice((1, 2, 3, 5, 8, 12, 25, 40, 120))}\n"
        if rng.random() < 0.4:
            cms = rng.choice(("WordPress", "Shopify", "TYPO3", "none yet"))
            custom += f"  cms: {q(cms)}\n"
        parts.append(custom)
        parts.append(
            f"created: {stamp(c.created)}\nupdated: {stamp(self.later(c.created, 0, 400))}\n"
        )
        return "".join(parts)

    def make_contacts(self) -> None:
        ids = Ids()
        emails: set[str] = set()
        for i in range(self.counts["contacts"]):
            first, name = self.person()
            company = self.companies[i] if i < len(self.companies) else None
            if company is None and self.rng.random() < 0.8:
                company = self.rng.choice(self.companies)
            rid = ids.make(name)
            domain = company.domain if company else self.rng.choice(("mail", "posteo", "web"))
            local = slug(name).replace("-", ".")
            host = domain if company else f"{domain}.example"
            email, n = f"{local}@{host}", 1
            while email in emails:
                n += 1
                email = f"{local}{n}@{host}"
            emails.add(email)
            created = self.when(company.created if company else None)
            contact = Contact(rid, name, first, email, company, created)
            self.contacts.append(contact)
            if company:
                company.contacts.append(contact)
            self.write("contacts", rid, self.contact_text(contact))
        # A few clients get most of the calls and emails: Zipf-like weights.
        total = 0.0
        for i in range(len(self.contacts)):
            total += 1 / (1 + i) ** 0.7
            self.weights.append(total)
        order = list(range(len(self.contacts)))
        self.rng.shuffle(order)
        self.contacts = [self.contacts[i] for i in order]

    def contact_text(self, c: Contact) -> str:
        rng = self.rng
        parts = []
        if rng.random() < 0.03:
            parts.append("# Double-check the email, it bounced once.\n")
        parts.append(f"name: {q(c.name)}\n")
        if rng.random() < 0.05:
            parts.append(f"nickname: {q(c.first[:3])}\n")  # a key crm does not know
        parts.append(items("emails", [c.email]))
        if rng.random() < 0.8:
            prefix = c.company.phone.rsplit(" ", 2)[0] if c.company else "+49 171"
            parts.append(
                items("phones", [f"{prefix} {rng.randint(100, 999)} {rng.randint(10, 9999)}"])
            )
        if c.company and rng.random() < 0.8:
            parts.append(f"title: {q(rng.choice(TITLES))}\n")
        if c.company:
            parts.append(f"company: {c.company.id}\n")
        else:
            country, _cur, cities, _p, _w = rng.choice(COUNTRIES)
            parts.append(f"address:\n  city: {q(rng.choice(cities))}\n  country: {country}\n")
        if rng.random() < 0.15:
            year = rng.choice((f"{rng.randint(1955, 2000)}-", "--"))
            parts.append(f"birthday: {year}{rng.randint(1, 12):02}-{rng.randint(1, 28):02}\n")
        if rng.random() < 0.05:
            parts.append(f"cadence: {rng.choice(('2w', '1m', '3m'))}\n")
        tag = rng.choices(("client", "vip", "prospect", "partner", ""), (4, 1, 3, 1, 6))[0]
        parts.append(items("tags", [tag] if tag else []))
        if rng.random() < 0.2:
            parts.append(block("notes", rng.choice(NOTES)))
        custom = []
        if rng.random() < 0.3:
            custom.append(f"  linkedin: https://www.linkedin.example/in/{c.id}\n")
        if rng.random() < 0.3:
            value = rng.choice(("true", "false"))
            comment = "    # asked at the fair" if rng.random() < 0.2 else ""
            custom.append(f"  newsletter: {value}{comment}\n")
        if custom:
            parts.append("custom:\n" + "".join(custom))
        parts.append(
            f"created: {stamp(c.created)}\nupdated: {stamp(self.later(c.created, 0, 300))}\n"
        )
        return "".join(parts)

    def make_deals(self) -> None:
        ids = Ids()
        for _ in range(self.counts["deals"]):
            contact = self.a_contact()
            company = contact.company or self.rng.choice(self.companies)
            title = f"{company.name.split()[0]} {self.rng.choice(DEAL_TITLES)}"
            rid = ids.make(title)
            created = self.when(max(company.created, contact.created))
            text, open_, won = self.deal_text(title, company, contact, created)
            company.deals.append(rid)
            if won:
                company.won.append(rid)
            if open_:
                self.deals_open.append(rid)
            self.deals_by_contact.setdefault(contact.id, []).append(rid)
            self.write("deals", rid, text)

    def deal_text(
        self, title: str, company: Company, contact: Contact, created: dt.datetime
    ) -> tuple[str, bool, bool]:
        rng = self.rng
        age = (self.now - created).days
        if age > 150 or rng.random() < 0.3:
            final = rng.choices(("won", "lost"), (45, 55))[0]
            reached = rng.randint(1, 4)
        else:
            final, reached = None, rng.randint(1, 4)
        path = list(OPEN_STAGES[:reached])
        history = []
        moment = created
        for i, stage in enumerate(path):
            history.append((moment, stage, path[i - 1] if i else None))
            moment = self.later(moment, 3, 40)
        if final:
            history.append((moment, final, path[-1]))
        stage = history[-1][1]
        digits = 0 if company.currency == "JPY" else 2
        value = round(rng.lognormvariate(8.2, 0.8) / 50) * 50 + 50
        parts = [f"title: {q(title)}\npipeline: sales\ncompany: {company.id}\n"]
        parts.append(f"contact: {contact.id}\n")
        parts.append(f'value: "{value:.{digits}f}"\ncurrency: {company.currency}\nstage: {stage}\n')
        if not final and rng.random() < 0.1:
            parts.append(f"probability: {rng.choice((20, 40, 60, 80))}\n")
        if final:
            close = history[-1][0].date()
        else:
            close = self.today + dt.timedelta(days=rng.randint(-20, 120))
        parts.append(f"close_date: {close.isoformat()}\n")
        reason = rng.choice(LOST_REASONS) if final == "lost" else None
        if reason:
            parts.append(f"lost_reason: {q(reason)}\n")
        parts.append(
            items(
                "tags", rng.sample(("web", "shop", "branding", "seo", "print"), rng.randint(0, 2))
            )
        )
        if rng.random() < 0.25:
            parts.append(block("notes", f"{rng.choice(NOTES)}\nBudget talk with {contact.first}."))
        if rng.random() < 0.6:
            parts.append(
                f"custom:\n  channel: {rng.choice(('referral', 'website', 'event', 'repeat'))}\n"
            )
        if rng.random() < 0.03:
            parts.append(f'old_crm_id: "D-{rng.randint(1000, 9999)}"\n')  # a key crm does not know
        parts.append("history:\n")
        for at, st, frm in history:
            parts.append(f"  - at: {stamp(at)}\n    stage: {st}\n")
            if frm:
                parts.append(f"    from: {frm}\n")
            if st == "lost":
                parts.append(f"    reason: {q(reason or 'price')}\n")
        parts.append(f"created: {stamp(created)}\nupdated: {stamp(history[-1][0])}\n")
        return "".join(parts), final is None, final == "won"

    def make_leads(self) -> None:
        ids = Ids()
        statuses = ("new", "contacted", "qualified", "unqualified", "junk", "converted")
        with_deals = [c for c in self.contacts if c.company and c.id in self.deals_by_contact]
        for i in range(self.counts["leads"]):
            status = self.rng.choices(statuses, (8, 12, 8, 20, 12, 40))[0]
            if status == "converted" and with_deals:
                contact = with_deals[i % len(with_deals)]
                name = contact.name
            else:
                status = "new" if status == "converted" else status
                contact = None
                _first, name = self.person()
            rid = ids.make(name)
            self.write("leads", rid, self.lead_text(rid, name, contact, status))

    def lead_text(self, rid: str, name: str, contact: Contact | None, status: str) -> str:
        rng = self.rng
        created = self.when(contact.created - dt.timedelta(days=30) if contact else None)
        company = contact.company if contact else None
        company_name = company.name if company else f"{rng.choice(PREFIXES)} {rng.choice(TRADES)}"
        parts = [f"name: {q(name)}\ncompany: {q(company_name)}\n"]
        if rng.random() < 0.5:
            parts.append(f"title: {q(rng.choice(TITLES))}\n")
        parts.append(items("emails", [f"{rid.replace('-', '.')}@{slug(company_name)}.example"]))
        parts.append(f"source: {q(rng.choice(SOURCES))}\nstatus: {status}\n")
        if rng.random() < 0.1:
            parts.append("# A rough figure from the first call.\n")
        if rng.random() < 0.6:
            parts.append(f'budget: "{rng.randint(2, 60) * 500}.00"\n')
        if rng.random() < 0.5:
            parts.append(f"authority: {rng.choice(('true', 'false'))}\n")
        if rng.random() < 0.5:
            parts.append(f"need: {q(rng.choice(NEEDS))}\ntimeline: {q(rng.choice(TIMELINES))}\n")
        path = {
            "new": ["new"],
            "contacted": ["new", "contacted"],
            "qualified": ["new", "contacted", "qualified"],
            "unqualified": ["new", "contacted", "unqualified"],
            "junk": ["new", "junk"],
            "converted": ["new", "contacted", "qualified", "converted"],
        }[status]
        history, moment = [], created
        for i, st in enumerate(path):
            history.append((moment, st, path[i - 1] if i else None))
            moment = self.later(moment, 1, 20)
        if len(path) > 1:
            parts.append(f"last_contact: {history[1][0].date().isoformat()}\n")
        if contact and company:
            deal = self.deals_by_contact[contact.id][0]
            parts.append(
                f"converted:\n  company: {company.id}\n  contact: {contact.id}\n"
                f"  deal: {deal}\n  at: {stamp(history[-1][0])}\n"
            )
        parts.append("history:\n")
        for at, st, frm in history:
            parts.append(f"  - at: {stamp(at)}\n    status: {st}\n")
            if frm:
                parts.append(f"    from: {frm}\n")
        parts.append(f"created: {stamp(created)}\nupdated: {stamp(history[-1][0])}\n")
        return "".join(parts)

    def make_activities(self) -> None:
        ids = Ids()
        kinds = ("call", "email", "meeting", "note")
        for _ in range(self.counts["activities"]):
            rng = self.rng
            contact = self.a_contact()
            kind = rng.choices(kinds, (3, 5, 2, 1))[0]
            at = self.when(contact.created)
            rid = ids.make(f"{at.date().isoformat()}-{kind}-{contact.id}", 60)
            text = rng.choice(ACTIVITY_TEXTS[kind]).format(
                first=contact.first, topic=rng.choice(TOPICS)
            )
            parts = [f"type: {kind}\n"]
            if kind == "note" and rng.random() < 0.5:
                parts.append(f"at: {at.date().isoformat()}\n")  # an all-day entry
            else:
                offset = "+01:00" if at.month in (1, 2, 3, 11, 12) else "+02:00"
                parts.append(
                    f"at: {(at + dt.timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:00')}{offset}\n"
                )
            if kind in ("call", "meeting"):
                parts.append(f"duration: {rng.choice((10, 15, 30, 45, 60, 90))}\n")
            parts.append(block("text", text))
            parts.append(items("contacts", [contact.id]))
            deals = self.deals_by_contact.get(contact.id)
            if deals and rng.random() < 0.5:
                parts.append(items("deals", [rng.choice(deals)]))
            if kind == "note" and contact.company:
                parts.append(items("companies", [contact.company.id]))
            logged = stamp(self.later(at, 0, 1))
            parts.append(f"created: {logged}\nupdated: {logged}\n")
            self.write("activities", rid, "".join(parts))

    def make_tasks(self) -> None:
        ids = Ids()
        for _ in range(self.counts["tasks"]):
            rng = self.rng
            contact = self.a_contact()
            title = rng.choice(TASK_TITLES).format(first=contact.first, topic=rng.choice(TOPICS))
            rid = ids.make(title)
            open_ = rng.random() < 0.15
            if open_:
                due = self.today + dt.timedelta(days=rng.randint(-30, 60))
                created = min(
                    self.now, dt.datetime.combine(due, dt.time(8), tzinfo=dt.UTC)
                ) - dt.timedelta(days=rng.randint(1, 30))
            else:
                created = self.when(contact.created)
                due = (created + dt.timedelta(days=rng.randint(1, 21))).date()
            parts = [f"title: {q(title)}\n"]
            if rng.random() < 0.1:
                parts.append(f"due: {due.isoformat()}T{rng.randint(8, 17):02}:00:00+01:00\n")
            else:
                parts.append(f"due: {due.isoformat()}\n")
            parts.append(f"status: {'open' if open_ else 'done'}\n")
            if rng.random() < 0.4:
                parts.append(f"priority: {rng.choice(('high', 'medium', 'low'))}\n")
            parts.append(items("contacts", [contact.id]))
            deals = self.deals_by_contact.get(contact.id)
            if deals and rng.random() < 0.4:
                parts.append(items("deals", [rng.choice(deals)]))
            if not open_:
                done = min(self.now, created + dt.timedelta(days=rng.randint(0, 25), hours=2))
                parts.append(f"done_at: {stamp(done)}\n")
                updated = done
            else:
                updated = created
            parts.append(f"created: {stamp(created)}\nupdated: {stamp(updated)}\n")
            self.write("tasks", rid, "".join(parts))

    def make_invoices(self) -> list[str]:
        """Invoices of companies, most issued and paid; returns the ids of the drafts."""
        rng = self.rng
        ids = Ids()
        billed = [c for c in self.companies if c.contacts]
        total = self.counts["invoices"]
        drafts = max(self.drafts, total // 30)
        made: list[tuple[dt.datetime, str, Company, str, list[tuple[str, int, int, str]]]] = []
        for i in range(total):
            company = (
                rng.choice([c for c in billed if c.won] or billed)
                if rng.random() < 0.6
                else rng.choice(billed)
            )
            deal = rng.choice(company.won) if company.won and rng.random() < 0.7 else None
            if i < drafts:
                issued = self.now - dt.timedelta(days=rng.randint(0, 20))
            else:
                issued = self.when(company.created)
                issued = min(issued, self.now - dt.timedelta(days=1))
            lines = self.lines(company.currency)
            rid = ids.make(f"{company.name.split()[0]} {lines[0][3]} {issued.year}")
            made.append((issued, rid, company, deal or "", lines))
        # Numbers follow the calendar: number the issued ones in date order, per year.
        issued_ones = sorted(made[drafts:], key=lambda m: (m[0], m[1]))
        seq: dict[int, int] = {}
        for issued, rid, company, deal, lines in issued_ones:
            seq[issued.year] = seq.get(issued.year, 0) + 1
            number = NUMBERING.format(year=issued.year, seq=seq[issued.year])
            self.write_invoice(rid, company, deal, lines, issued, number)
        for issued, rid, company, deal, lines in made[:drafts]:
            self.write_invoice(rid, company, deal, lines, issued, None)
        return [m[1] for m in made[:drafts]]

    def lines(self, currency: str) -> list[tuple[str, int, int, str]]:
        """(product id or "", quantity, whole unit price, text) of one invoice's lines."""
        rng = self.rng
        catalogue = [p for p in PRODUCTS[: self.counts["products"]] if p[4] == currency]
        out = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            if catalogue and rng.random() < 0.5:
                pid, name, _unit, price, _cur = rng.choice(catalogue)
                out.append((pid, rng.randint(1, 40), int(float(price)), name))
            else:
                out.append(("", 1, rng.randint(4, 120) * 50, rng.choice(DEAL_TITLES)))
        return out

    def write_invoice(
        self,
        rid: str,
        company: Company,
        deal: str,
        lines: Sequence[tuple[str, int, int, str]],
        issued: dt.datetime,
        number: str | None,
    ) -> None:
        rng = self.rng
        contact = company.contacts[0]
        title = f"{lines[0][3]} for {company.name}"
        parts = [f"title: {q(title)}\n"]
        if number:
            parts.append(f"number: {number}\n")
        parts.append(f"company: {company.id}\ncontact: {contact.id}\n")
        if deal:
            parts.append(f"deal: {deal}\n")
        due = issued.date() + dt.timedelta(days=company.terms)
        status = "draft" if number is None else rng.choice(("sent", "sent", "sent", "issued"))
        parts.append(f"status: {status}\n")
        if number:
            parts.append(f'issued: "{issued.date().isoformat()}"\ndue: "{due.isoformat()}"\n')
            parts.append(f'service_date: "{issued.date().isoformat()}"\n')
        regime = "reverse_charge" if company.foreign else "standard"
        parts.append(f"currency: {company.currency}\nregime: {regime}\nlines:\n")
        net = 0
        for pid, qty, price, text in lines:
            if pid:
                parts.append(f"  - product: {pid}\n    text: {q(text)}\n")
            else:
                parts.append(f"  - text: {q(text)}\n")
            parts.append(f'    quantity: "{qty}"\n    price: "{price}.00"\n    tax: "19"\n')
            net += qty * price
        # Whole prices make every total exact: 19 % of whole euros is whole cents.
        total_cents = net * 100 if company.foreign else net * 119
        updated = issued
        if number:
            days_open = (self.today - due).days
            roll = rng.random()
            paid_cents = 0
            if days_open > 45:
                paid_cents = total_cents if roll < 0.93 else 0
            elif roll < 0.5:
                paid_cents = total_cents
            elif roll < 0.6:
                paid_cents = total_cents // 2
            payments = []
            if paid_cents:
                pay_day = self.later(issued, 3, company.terms + 10)
                payments.append((pay_day, paid_cents))
            if payments:
                parts.append("payments:\n")
                for day, cents in payments:
                    reference = q(f"{company.name} {number}".upper())
                    parts.append(
                        f'  - date: "{day.date().isoformat()}"\n'
                        f'    amount: "{cents // 100}.{cents % 100:02}"\n'
                        f"    method: bank transfer\n    reference: {reference}\n"
                    )
                    updated = max(updated, day)
            if paid_cents < total_cents and days_open > 7:
                reminded = dt.datetime.combine(
                    due + dt.timedelta(days=7), dt.time(9), tzinfo=dt.UTC
                )
                parts.append(
                    f'reminders:\n  - date: "{reminded.date().isoformat()}"\n    level: 1\n'
                )
                updated = max(updated, reminded)
            document = self.document(rid, number, title, total_cents, company.currency)
            parts.append(f"document:\n  file: {rid}.html\n  format: html\n  sha256: {document}\n")
        parts.append(f"created: {stamp(issued)}\nupdated: {stamp(updated)}\n")
        self.write("invoices", rid, "".join(parts))

    def document(self, rid: str, number: str, title: str, cents: int, currency: str) -> str:
        """Write the document kept beside an issued invoice; return its SHA-256."""
        data = (
            f"<!doctype html>\n<html><head><meta charset='utf-8'><title>Invoice {number}</title>"
            f"</head><body><h1>Invoice {number}</h1><p>{title}</p>"
            f"<p>Total: {cents // 100}.{cents % 100:02} {currency}</p></body></html>\n"
        ).encode()
        (self.out / "invoices" / f"{rid}.html").write_bytes(data)
        return hashlib.sha256(data).hexdigest()


def generate(
    out: Path,
    records: int,
    *,
    seed: int = 1,
    today: dt.date | None = None,
    drafts: int = 20,
    git: bool = False,
) -> Manifest:
    """Write a folder of about `records` records into `out` (created; must be empty or absent)."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise SystemExit(f"{out} is not empty")
    today = today or dt.datetime.now(dt.UTC).date()
    manifest = Generator(out, records, seed, today, drafts).run()
    if git:
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "Generated data"]):
            subprocess.run(["git", "-C", str(out), *args], check=True)
    return manifest


def write_csv(path: Path, rows: int, *, seed: int = 1) -> None:
    """A CSV of `rows` new contacts as another program exports them (for `import csv`)."""
    rng = random.Random(seed + 1000)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "email", "phone", "title", "company", "notes"])
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST).replace("-", " ")
            company = f"{rng.choice(PREFIXES)} {rng.choice(TRADES)}"
            email = f"{slug(f'{first} {last}').replace('-', '.')}.{i}@import.example"
            phone = f"+49 {rng.randint(30, 89)} {rng.randint(1000, 9999)} {rng.randint(100, 999)}"
            note = rng.choice(("", "", "Met at the fair", "From the old phone"))
            writer.writerow([f"{first} {last}", email, phone, rng.choice(TITLES), company, note])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, help="the folder to create")
    parser.add_argument("--records", type=int, default=1000, help="about this many records")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--today", type=dt.date.fromisoformat, help="the date taken as today")
    parser.add_argument("--drafts", type=int, default=20, help="at least this many draft invoices")
    parser.add_argument("--git", action="store_true", help="make the folder a git repository")
    parser.add_argument("--csv", type=Path, help="also write a CSV of contacts to import")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the --csv file")
    args = parser.parse_args(argv)
    if args.dir is None and args.csv is None:
        parser.error("give a DIR, --csv FILE or both")
    if args.dir is not None:
        began = time.perf_counter()
        manifest = generate(
            args.dir,
            args.records,
            seed=args.seed,
            today=args.today,
            drafts=args.drafts,
            git=args.git,
        )
        took = time.perf_counter() - began
        print(f"{args.dir}: {manifest.records} records in {took:.1f} s", file=sys.stderr)
        print(json.dumps(manifest.counts), file=sys.stderr)
    if args.csv is not None:
        write_csv(args.csv, args.rows, seed=args.seed)
        print(f"{args.csv}: {args.rows} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
