"""Telling records apart: emails, phones, domains and names in the form they are compared in.

Two records are the same person or company when they share a normalised email, phone number
(E.164), web domain or external id; names are compared loosely, for likely duplicates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any
from urllib.parse import urlsplit

from crm.records import Record, as_list, email_key

# Addresses at these domains say nothing about the company someone works for.
FREEMAIL = frozenset(
    {
        "aol.com",
        "gmail.com",
        "googlemail.com",
        "gmx.at",
        "gmx.ch",
        "gmx.de",
        "gmx.net",
        "hotmail.com",
        "icloud.com",
        "live.com",
        "mac.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "outlook.com",
        "posteo.de",
        "proton.me",
        "protonmail.com",
        "t-online.de",
        "web.de",
        "yahoo.com",
        "yandex.ru",
    }
)
# Words that do not tell two companies apart: "ACME GmbH" and "Acme" are one.
_LEGAL_FORMS = frozenset(
    {
        "ag",
        "bv",
        "co",
        "company",
        "corp",
        "corporation",
        "gmbh",
        "inc",
        "kg",
        "limited",
        "llc",
        "llp",
        "ltd",
        "plc",
        "sa",
        "sarl",
        "sas",
        "spa",
        "srl",
        "ug",
    }
)
_WORD_RE = re.compile(r"[a-z0-9]+")


def phone_key(text: str, region: str | None) -> str | None:
    """A phone number in E.164 (`+4930123456`), or None when it cannot be one.

    Numbers written without a country code are read as numbers of `region` (the owner's
    country, from crm.yaml's business address).
    """
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        digits = "".join(c for c in text if c.isdigit() or c == "+")
        return digits if len(digits.lstrip("+")) >= 6 else None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def domain_key(text: str) -> str | None:
    """The registrable-looking host of a URL, domain or email: `https://www.Acme.example/x` and
    `ada@acme.example` both give `acme.example`. None for free-mail providers."""
    text = text.strip().lower()
    if not text:
        return None
    if "@" in text and "/" not in text:
        host = text.rsplit("@", 1)[1]
    else:
        try:
            host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
        except ValueError:  # an unclosed IPv6 bracket
            return None
    host = host.rstrip(".").removeprefix("www.")
    if "." not in host or host in FREEMAIL:
        return None
    return host


def name_key(name: str, *, company: bool = False) -> str:
    """A name as compared loosely: ASCII, lower case, words sorted, legal forms dropped."""
    text = unicodedata.normalize("NFKC", name)
    if not text.isascii():
        from anyascii import anyascii

        text = anyascii(text)
    words = _WORD_RE.findall(text.lower())
    if company:
        words = [w for w in words if w not in _LEGAL_FORMS] or words
    return " ".join(sorted(words))


def name_similarity(a: str, b: str) -> float:
    """0..1: how alike two name keys are, whatever the order of their words."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def region_of(business: Mapping[str, Any]) -> str | None:
    """The owner's country (ISO 3166 alpha-2), from crm.yaml's business address."""
    address = business.get("address")
    country = address.get("country") if isinstance(address, Mapping) else None
    if isinstance(country, str) and len(country.strip()) == 2:
        return country.strip().upper()
    return None


@dataclass(frozen=True, slots=True)
class Keys:
    """What identifies one record: its keys by kind."""

    external: frozenset[tuple[str, str]] = frozenset()
    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    name: str = ""


def keys_of(rtype: str, data: Mapping[str, Any], region: str | None) -> Keys:
    """The keys of a record's data (as stored, or as about to be stored)."""
    external = data.get("external_ids")
    emails = as_list(data.get("emails"))
    domains = {domain_key(e) for e in emails}
    if rtype == "company":
        domains |= {domain_key(str(data.get(k) or "")) for k in ("domain", "website")}
    else:
        domains = set()  # two people at one company are not one person
    return Keys(
        external=frozenset(
            (str(k), str(v)) for k, v in (external.items() if isinstance(external, Mapping) else ())
        ),
        emails=frozenset(email_key(e) for e in emails),
        phones=frozenset(
            p for p in (phone_key(t, region) for t in as_list(data.get("phones"))) if p
        ),
        domains=frozenset(d for d in domains if d),
        name=name_key(
            str(data.get("title" if rtype == "deal" else "name") or ""), company=rtype == "company"
        ),
    )


@dataclass
class Index:
    """Records of one type by their keys, to find the one an incoming record matches."""

    rtype: str
    region: str | None
    by_external: dict[tuple[str, str], str] = field(default_factory=dict)
    by_email: dict[str, str] = field(default_factory=dict)
    by_phone: dict[str, str] = field(default_factory=dict)
    by_domain: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)  # namesakes are common
    external_of: dict[str, dict[str, str]] = field(default_factory=dict)
    keys_by_id: dict[str, Keys] = field(default_factory=dict)

    def add(self, rid: str, data: Mapping[str, Any]) -> None:
        keys = keys_of(self.rtype, data, self.region)
        self.keys_by_id[rid] = keys
        if keys.external:
            self.external_of[rid] = dict(keys.external)
        for key in keys.external:
            self.by_external.setdefault(key, rid)
        for email in keys.emails:
            self.by_email.setdefault(email, rid)
        for phone in keys.phones:
            self.by_phone.setdefault(phone, rid)
        for domain in keys.domains:
            self.by_domain.setdefault(domain, rid)
        if keys.name:
            self.by_name.setdefault(keys.name, []).append(rid)

    def _namesakes(self, keys: Keys) -> dict[str, str]:
        """The first record called `keys.name` that nothing tells apart from `keys`."""
        for rid in self.by_name.get(keys.name, ()):
            theirs = self.keys_by_id[rid]
            if self.rtype in ("contact", "lead"):
                same = bool(keys.phones & theirs.phones) or not (keys.phones or theirs.phones)
            elif self.rtype == "company":
                same = not (keys.domains and theirs.domains) or bool(keys.domains & theirs.domains)
            else:
                same = True
            if same:
                return {keys.name: rid}
        return {}

    def match(
        self, data: Mapping[str, Any], *, by: Sequence[str] = ("external", "email", "domain")
    ) -> tuple[str, str] | None:
        """The id of the record `data` is taken to be, and why (`external id`, `email`, ...).

        `by` lists the kinds of key to try, in order. A record with another id of the system
        `data` has an id of is not matched by domain or name, but is by email (one email, one
        record). `name` matches an exact normalised name
        (how an imported company is found from a contact's organisation) — a person only when
        their phone numbers agree (one in common, or none on either side), a company only
        when their web domains do not differ.
        """
        keys = keys_of(self.rtype, data, self.region)
        tables: dict[str, tuple[Iterable[Any], dict[Any, str]]] = {
            "external": (sorted(keys.external), self.by_external),
            "email": (sorted(keys.emails), self.by_email),
            "phone": (sorted(keys.phones), self.by_phone),
            "domain": (sorted(keys.domains), self.by_domain),
            "name": ([keys.name] if keys.name else [], self._namesakes(keys)),
        }
        theirs = dict(keys.external)
        for kind in by:
            wanted, table = tables[kind]
            for key in wanted:
                rid = table.get(key)
                if rid is None:
                    continue
                ours = self.external_of.get(rid, {})
                if kind != "email" and any(
                    ours.get(system, ext_id) != ext_id for system, ext_id in theirs.items()
                ):
                    continue  # another record of that system: same name, not the same one
                # (an email is one record's only: it matches whatever ids the two have)
                return rid, "external id" if kind == "external" else kind
        return None


def index(rtype: str, records: Iterable[Record], region: str | None) -> Index:
    """An index of existing records of one type."""
    out = Index(rtype, region)
    for rec in records:
        out.add(rec.id, rec.data)
    return out
