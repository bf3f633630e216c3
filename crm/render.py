"""Documents from Jinja templates: HTML (and PDF from it), Markdown and plain text.

Rendering is sandboxed (a template from a shared repository cannot run code or reach Python's
internals), HTML is autoescaped, and an undefined name is an error rather than a silent blank.
A data folder overrides any template by a file of the same name in its `templates/`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm.errors import CrmError
from crm.money import round_to

KINDS = ("invoice", "quote", "credit_note", "reminder")
FORMATS = ("html", "md", "txt")


class TemplateError(CrmError):
    exit_code = 22


def _money(value: Any, currency: str, locale: str) -> str:
    from babel.numbers import format_currency

    if value is None or value == "":
        return ""
    amount = round_to(Decimal(str(value)), currency)  # Babel alone would round half-even
    return str(format_currency(amount, currency, locale=locale, decimal_quantization=False))


def _number(value: Any, locale: str) -> str:
    from babel.numbers import format_decimal

    if value is None or value == "":
        return ""
    return str(format_decimal(Decimal(str(value)).normalize(), locale=locale))


def _date(value: Any, locale: str) -> str:
    from babel.dates import format_date

    if not value:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return str(format_date(day, format="medium", locale=locale))


def _css(value: Any) -> Any:
    """Text inside a CSS string (the page footer): quotes, backslashes and `<` escaped the CSS
    way, not the HTML way (CSS would print `&amp;` as it is)."""
    from markupsafe import Markup

    text = "" if value is None else str(value)
    out = "".join(f"\\{ord(c):X} " if c in '\\"<>\n\r' else c for c in text)
    return Markup(out)


def _nonzero(value: Any) -> bool:
    """`{% if paid is nonzero %}`: an amount given and not 0, whatever its decimals."""
    if value is None or value == "":
        return False
    try:
        return Decimal(str(value)) != 0
    except ArithmeticError:
        return True


def environment(overrides: Path | None) -> Any:
    from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    loaders: list[Any] = []
    if overrides is not None and overrides.is_dir():
        loaders.append(FileSystemLoader(str(overrides)))
    loaders.append(PackageLoader("crm", "templates"))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def render(kind: str, fmt: str, context: dict[str, Any], overrides: Path | None) -> str:
    """The document `kind` (invoice, ...) as `fmt` (html, md, txt)."""
    from jinja2 import TemplateError as JinjaError

    if kind not in KINDS or fmt not in FORMATS:
        raise TemplateError(f"no template for {kind} as {fmt}")
    from babel import Locale, UnknownLocaleError

    env = environment(overrides)
    locale = str(context.get("locale") or "en_GB")
    try:
        Locale.parse(locale)
    except (ValueError, UnknownLocaleError) as exc:
        raise TemplateError(
            f"crm.yaml: billing.locale '{locale}' is not a locale", hint="e.g. en_GB, de_DE"
        ) from exc
    currency = str(context.get("currency") or "EUR")
    env.filters["money"] = lambda v, c=currency: _money(v, c, locale)
    env.filters["number"] = lambda v: _number(v, locale)
    env.filters["date"] = lambda v: _date(v, locale)
    env.tests["nonzero"] = _nonzero
    env.filters["css"] = _css
    name = f"{kind}.{fmt}.j2"
    try:
        text = str(env.get_template(name).render(**context))
    except JinjaError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise TemplateError(f"template {name}{where}: {exc.message or exc}") from exc
    except (ValueError, ArithmeticError) as exc:
        raise TemplateError(f"template {name}: {exc}") from exc
    return text if text.endswith("\n") else text + "\n"


def pdf(html: str, base: Path | None = None) -> bytes:
    """A PDF/A-3b of an HTML document (PDF/A-3 can later carry the e-invoice XML)."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the system's Pango library is missing
        raise CrmError(
            f"PDF needs WeasyPrint and the Pango library: {exc}",
            hint="install Pango (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0)",
        ) from exc
    # Relative links (a logo beside an overriding template) resolve in the templates folder.
    base_url = str(base) + "/" if base is not None else None
    data: bytes = weasyprint.HTML(string=html, base_url=base_url).write_pdf(pdf_variant="pdf/a-3b")
    return data
