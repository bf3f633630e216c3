"""Bank and tax identifiers: IBAN, BIC and VAT ids checked and normalised, and the EPC QR code
("GiroCode", EPC069-12) that lets a customer pay an invoice by scanning it.

IBANs and BICs are checked with schwifty, VAT ids with python-stdnum; both are imported only
when a value is checked. The payment code is plain data here (its fields and the payload they
make); the picture of it is drawn where documents are rendered (crm.render).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm.errors import ValidationError

MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999.99")
MAX_NAME = 70  # characters of the beneficiary's name
MAX_TEXT = 140  # characters of the unstructured remittance text
MAX_PAYLOAD = 331  # bytes: what a version 13 QR code holds at error correction level M
_SPACE_RE = re.compile(r"\s+")
_PREFIX_RE = re.compile(r"[A-Za-z]{2}")


# -- IBAN and BIC -----------------------------------------------------------------------------


def normalize_iban(text: str) -> str:
    """The IBAN in `text` in its electronic form (`DE02120300000000202051`); ValidationError
    says what is wrong with it, naming it as it was given."""
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        return str(IBAN(text).compact)
    except SchwiftyException as exc:
        reason = _iban_reason(exc, text)
    raise ValidationError(
        f"{text.strip()} is not a valid IBAN: {reason}", hint="copy it from a bank statement"
    )


def _iban_reason(exc: Exception, text: str) -> str:
    from schwifty import exceptions, registry

    compact = _SPACE_RE.sub("", text).upper()
    country = compact[:2]
    if isinstance(exc, exceptions.InvalidChecksumDigits):
        return "the checksum does not match"
    if not compact.isalnum():
        return "it may hold only letters and digits (and spaces)"
    try:
        length = registry.get_iban_spec(country).iban_length
    except (exceptions.SchwiftyException, KeyError):
        return f"it does not start with the code of a country that has IBANs ({country})"
    if isinstance(exc, exceptions.InvalidLength):
        return f"an IBAN of {country} has {length} characters, this one {len(compact)}"
    if isinstance(exc, exceptions.InvalidStructure):
        return f"the account number does not have the form of an IBAN of {country}"
    if isinstance(exc, exceptions.InvalidBBANChecksum):
        return "the national check digits do not match"
    return str(exc)


def normalize_bic(text: str) -> str:
    """The BIC (SWIFT code) in `text`, upper case without spaces; ValidationError if wrong."""
    from schwifty import BIC, exceptions

    try:
        return str(BIC(text).compact)
    except exceptions.InvalidLength:
        reason = "a BIC has 8 or 11 letters and digits"
    except exceptions.InvalidCountryCode:
        reason = f"{_SPACE_RE.sub('', text).upper()[4:6]} is not a country code"
    except exceptions.SchwiftyException:
        reason = "it is not 4 characters for the bank, 2 letters for the country, 2 for the place "
        reason += "and optionally 3 for the branch"
    raise ValidationError(f"{text.strip()} is not a valid BIC: {reason}")


def is_sepa(iban: str) -> bool:
    """Whether a valid IBAN belongs to a country of the SEPA zone (where EPC codes work)."""
    from schwifty import IBAN

    return bool(IBAN(iban).in_sepa_zone)


def bank_problems(bank: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for each of `iban` and `bic` in crm.yaml's `billing.bank` that is wrong."""
    found = []
    for key, check in (("iban", normalize_iban), ("bic", normalize_bic)):
        value = bank.get(key)
        if value is None or not str(value).strip():
            continue
        try:
            check(str(value))
        except ValidationError as exc:
            found.append((key, exc.message))
    return found


# -- VAT ids ----------------------------------------------------------------------------------


def normalize_vat_id(text: str) -> str:
    """A VAT id without spaces and in upper case, checked by its country's rules.

    The country is its prefix (`DE`, `ATU`, `CHE`, `EL` for Greece, `XI` for Northern
    Ireland); an id whose prefix names no country python-stdnum knows is taken as it is.
    """
    from stdnum import exceptions
    from stdnum.util import get_cc_module

    compact = _SPACE_RE.sub("", text).upper()
    country = compact[:2]
    module = None
    if _PREFIX_RE.fullmatch(country):
        code = {"EL": "gr", "XI": "gb"}.get(country, country.lower())
        module = get_cc_module(code, "vat")
    if module is None:
        return compact  # no known country: nothing to check it against
    from stdnum import vatin

    try:
        return str(vatin.validate(compact))
    except exceptions.ValidationError as exc:
        uid = _swiss_uid(compact) if country == "CH" else None
        if uid:
            return uid  # the UID without its MWST/TVA/IVA suffix
        reason = _vat_reason(exc, country)
    raise ValidationError(
        f"{text.strip()} is not a valid VAT id: {reason}",
        hint="check it in the EU's VIES service or on the customer's invoices",
    )


def _swiss_uid(compact: str) -> str | None:
    from stdnum.ch import uid

    return str(uid.compact(compact)) if uid.is_valid(compact) else None


def _vat_reason(exc: Exception, country: str) -> str:
    from stdnum import exceptions

    if isinstance(exc, exceptions.InvalidChecksum):
        return "the check digit does not match"
    if isinstance(exc, exceptions.InvalidLength):
        return f"it has the wrong length for a VAT id of {country}"
    if isinstance(exc, exceptions.InvalidFormat):
        return f"it does not have the form of a VAT id of {country}"
    return f"a part of it is not valid for a VAT id of {country}"


# -- the payment code -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentCode:
    """What an EPC QR code (version 002, UTF-8, SEPA credit transfer) asks a banking app to
    pay: `amount` euros to `name`'s account `iban`, quoting `text`."""

    name: str
    iban: str
    bic: str
    amount: Decimal
    text: str

    @property
    def payload(self) -> str:
        """The text the QR code holds, one element per line (EPC069-12)."""
        amount = f"EUR{self.amount:.2f}".rstrip("0").rstrip(".")  # EUR1190, EUR12.5
        return "\n".join(
            ("BCD", "002", "1", "SCT", self.bic, self.name, self.iban, amount, "", "", self.text)
        )

    def json(self) -> dict[str, str]:
        """As a document template sees it (docs/documents.md)."""
        return {
            "name": self.name,
            "iban": self.iban,
            "bic": self.bic,
            "amount": f"{self.amount:.2f}",
            "text": self.text,
            "payload": self.payload,
        }


def _one_line(value: Any) -> str:
    """Text for one element of the payload: a line break would start the next element."""
    return _SPACE_RE.sub(" ", "".join(c if c.isprintable() else " " for c in str(value))).strip()


def payment_code(
    *,
    bank: Mapping[str, Any],
    business_name: str,
    currency: str,
    amount: Decimal | None,
    number: str | None,
) -> PaymentCode | None:
    """The code for paying `amount` of invoice `number` into the account in `bank`, or None
    when there is none to give: not in euros, no valid IBAN of a SEPA country (or a wrong
    BIC), nothing to pay (or more than a code may ask), no number yet, a name or number too
    long for the code. The beneficiary is the account's holder, else the business."""
    if currency != "EUR" or amount is None or not number:
        return None
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT or amount != round(amount, 2):
        return None
    try:
        iban = normalize_iban(str(bank.get("iban") or ""))
        bic = normalize_bic(str(bank["bic"])) if str(bank.get("bic") or "").strip() else ""
    except ValidationError:
        return None
    if not is_sepa(iban):
        return None
    name = _one_line(bank.get("holder") or business_name)[:MAX_NAME].rstrip()
    text = _one_line(number)
    if not name or len(text) > MAX_TEXT:
        return None
    code = PaymentCode(name=name, iban=iban, bic=bic, amount=amount, text=text)
    if len(code.payload.encode("utf-8")) > MAX_PAYLOAD:
        return None
    return code
