"""Documents from Jinja templates: HTML (and PDF from it), Markdown and plain text.

Rendering is sandboxed (a template from a shared repository cannot run code or reach Python's
internals), HTML is autoescaped, and an undefined name is an error rather than a silent blank.
A data folder overrides any template by a file of the same name in its `templates/`.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm.errors import CrmError, ValidationError
from crm.money import minor_units, plain, round_to

KINDS = ("invoice", "quote", "credit_note", "reminder")
FORMATS = ("html", "md", "txt")


class TemplateError(ValidationError):
    """A template that cannot be read or rendered (exit code 22, as any invalid value)."""


def _money(value: Any, currency: str, locale: str) -> str:
    """An amount (a total) in the currency's minor units, rounded half up."""
    from babel.numbers import format_currency

    if value is None or value == "":
        return ""
    amount = round_to(Decimal(str(value)), currency)  # Babel alone would round half-even
    return str(format_currency(amount, currency, locale=locale, decimal_quantization=False))


def _price(value: Any, currency: str, locale: str) -> str:
    """A unit price with every decimal it has, and at least the currency's minor units:
    `€0.3333`, `€95.00`. Never rounded: it is what the line was computed from."""
    from babel.numbers import format_currency

    if value is None or value == "":
        return ""
    amount = Decimal(str(value))
    decimals = max(minor_units(currency), -int(plain(amount).as_tuple().exponent))
    amount = amount.quantize(Decimal(1).scaleb(-decimals))  # exact: at most zeros are added
    return str(format_currency(amount, currency, locale=locale, decimal_quantization=False))


def _number(value: Any, locale: str) -> str:
    """A quantity, rate or discount with every decimal it has: `3`, `1.5`, `1,234.5675`."""
    from babel.numbers import format_decimal

    if value is None or value == "":
        return ""
    number = plain(Decimal(str(value)))  # Babel's pattern would keep 3 decimals, half-even
    return str(format_decimal(number, locale=locale, decimal_quantization=False))


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


def _epc_qr(code: Any) -> Any:
    """`{{ payment_code | epc_qr }}`: the EPC QR code (GiroCode) of a document's payment code
    as an inline SVG, sized by CSS (`.payment-code svg`); nothing when there is no code."""
    from markupsafe import Markup

    if not code:
        return ""
    import segno.helpers

    qr = segno.helpers.make_epc_qr(
        name=str(code["name"]),
        iban=str(code["iban"]),
        amount=Decimal(str(code["amount"])),
        text=str(code["text"]),
        bic=str(code["bic"]) or None,
        encoding="utf-8",
    )
    svg = qr.svg_inline(border=4, omitsize=True, svgclass="epc-qr", lineclass=None)
    return Markup(svg)


PACKAGED = Path(__file__).resolve().parent / "templates"


def _linked(root: Path, path: Path) -> Path | None:
    """The first symbolic link on the way from `root` (itself included) down to `path`."""
    current = root
    if current.is_symlink():
        return current
    for part in path.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _folder_loader(overrides: Path) -> Any:
    """The loader of a folder's templates/: its own files only, never a symbolic link (which
    could print any file the user can read into a document)."""
    from jinja2 import FileSystemLoader
    from jinja2.loaders import split_template_path

    class FolderLoader(FileSystemLoader):
        def get_source(self, environment: Any, template: str) -> Any:
            path = overrides.joinpath(*split_template_path(template))
            if path.is_symlink() or path.exists():
                link = _linked(overrides, path)
                if link is not None:
                    raise TemplateError(
                        f"{link.relative_to(overrides.parent)} is a symbolic link: "
                        "documents use only files that are in templates/ themselves",
                        hint="copy the file into templates/ instead of linking it",
                    )
            return super().get_source(environment, template)

    return FolderLoader(str(overrides))


# What a template from a shared folder may make: bounded, so that `{{ 'x' * 10**12 }}` is an
# error, not the memory of the machine. A document or an email is far smaller.
MAX_TEXT = 1_000_000  # characters (or items) one expression may make
MAX_OUTPUT = 10_000_000  # characters a template may render
MAX_BITS = 100_000  # bits of a number `**` may make


@functools.cache
def _bounded_environment() -> type:
    """A sandboxed Jinja environment whose `*`, `**`, `+` and `~` refuse results larger than
    the limits above (built on first use: Jinja loads only when a template is rendered)."""
    from jinja2.compiler import CodeGenerator
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    def sized(value: Any) -> int | None:
        return len(value) if isinstance(value, str | bytes | list | tuple) else None

    def too_large(what: str) -> SecurityError:
        return SecurityError(f"{what} would be larger than a template may make")

    class Generator(CodeGenerator):
        def visit_Concat(self, node: Any, frame: Any) -> None:
            self.write("environment.checked_text(")
            super().visit_Concat(node, frame)
            self.write(")")

    class Bounded(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+"})
        code_generator_class = Generator

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    length = sized(seq)
                    if length is not None and isinstance(times, int) and length * times > MAX_TEXT:
                        raise too_large("a repeated text or list")
            elif operator == "+":
                a, b = sized(left), sized(right)
                if a is not None and b is not None and a + b > MAX_TEXT:
                    raise too_large("a joined text or list")
            elif (
                operator == "**"
                and isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and right * left.bit_length() > MAX_BITS
            ):
                raise too_large("a power")
            return super().call_binop(context, operator, left, right)

        def checked_text(self, text: Any) -> Any:
            if isinstance(text, str) and len(text) > MAX_TEXT:
                raise too_large("a joined text (~)")
            return text

    return Bounded


def environment(overrides: Path | None) -> Any:
    from jinja2 import ChoiceLoader, PackageLoader, StrictUndefined

    loaders: list[Any] = []
    if overrides is not None and (overrides.is_dir() or overrides.is_symlink()):
        loaders.append(_folder_loader(overrides))
    loaders.append(PackageLoader("crm", "templates"))
    env = _bounded_environment()(
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
    if kind not in KINDS or fmt not in FORMATS:
        raise TemplateError(f"no template for {kind} as {fmt}")
    text = render_template(f"{kind}.{fmt}.j2", context, overrides)
    assert text is not None
    return text if text.endswith("\n") else text + "\n"


def render_template(
    name: str, context: dict[str, Any], overrides: Path | None, *, optional: bool = False
) -> str | None:
    """The template `name` (a document's, an email's part) rendered with the document
    filters; None when `optional` and neither the folder nor crm has it."""
    from babel import Locale, UnknownLocaleError
    from jinja2 import TemplateError as JinjaError
    from jinja2 import TemplateNotFound

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
    env.filters["price"] = lambda v, c=currency: _price(v, c, locale)
    env.filters["number"] = lambda v: _number(v, locale)
    env.filters["date"] = lambda v: _date(v, locale)
    env.tests["nonzero"] = _nonzero
    env.filters["css"] = _css
    env.filters["epc_qr"] = _epc_qr
    try:
        template = env.get_template(name)
    except TemplateNotFound:
        if optional:
            return None
        raise TemplateError(f"no template {name}") from None
    except JinjaError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise TemplateError(f"template {name}{where}: {exc.message or exc}") from exc
    try:
        return _rendered(template, context)
    except TemplateNotFound as exc:
        raise TemplateError(
            f"template {name}: it includes '{exc.name}', which is no template in templates/ "
            "(nor one crm has)"
        ) from None
    except JinjaError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise TemplateError(f"template {name}{where}: {_one_line(exc.message or exc)}") from exc
    except RecursionError:
        raise TemplateError(
            f"template {name}: includes or calls nest too deep (does it include itself?)"
        ) from None
    except MemoryError:
        raise TemplateError(f"template {name}: makes more text than fits in memory") from None
    except (ValueError, ArithmeticError) as exc:
        raise TemplateError(f"template {name}: {_one_line(exc)}") from exc


def _rendered(template: Any, context: dict[str, Any]) -> str:
    """The template's text, refused (SecurityError) once longer than MAX_OUTPUT."""
    from jinja2.exceptions import SecurityError

    parts: list[str] = []
    size = 0
    for part in template.generate(**context):
        size += len(part)
        if size > MAX_OUTPUT:
            raise SecurityError(f"the text would be longer than {MAX_OUTPUT:,} characters")
        parts.append(part)
    return "".join(parts)


def _one_line(message: Any) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= 300 else text[:299] + "…"


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
    fetcher, refused = _url_fetcher(base)
    document = weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher)
    data: bytes = document.write_pdf(pdf_variant="pdf/a-3b")
    if refused:
        raise TemplateError(
            f"the document asks for {refused[0]}: a document may use only files in templates/ "
            "and data: URLs" + (f" ({len(refused) - 1} more refused)" if len(refused) > 1 else ""),
            hint="put the file (a logo, a font) in the folder's templates/ and name it relatively",
        )
    return data


def _url_fetcher(base: Path | None) -> tuple[Any, list[str]]:
    """A WeasyPrint URL fetcher that serves data: URLs and the files of the folder's templates/
    (and the packaged ones), nothing else: no other local file (`<a rel="attachment"
    href="file:///etc/passwd">` would embed it in the PDF), no network. Returns the fetcher
    and the list of the URLs it refused, filled as it is used."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    from weasyprint import URLFetcher

    roots = [PACKAGED]
    if base is not None and base.is_dir() and not base.is_symlink():
        roots.append(base.resolve())
    refused: list[str] = []

    def allowed(url: str) -> bool:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return True
        if scheme != "file" or parts.netloc not in ("", "localhost"):
            return False
        path = Path(url2pathname(parts.path)).resolve()
        return path.is_file() and any(root in path.parents for root in roots)

    class Fetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not allowed(url):
                refused.append(url)
                raise ValueError(f"{url} is not a file in templates/")
            return super().fetch(url, headers)

    return Fetcher(), refused
