"""The data folder: finding it, creating it, and where each record type lives."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from crm.config import CONFIG_FILE
from crm.errors import ConfigError, ConflictError
from crm.models import RECORD_TYPES
from crm.store import atomic

STATE_DIR = ".crm"  # locks, temp files and caches; git-ignored, never the source of truth


def find_root(explicit: Path | None, start: Path) -> Path:
    """The folder holding crm.yaml: `explicit` (from --dir or CRM_DIR), else `start` or a parent."""
    if explicit is not None:
        root = explicit.expanduser()
        if not (root / CONFIG_FILE).is_file():
            raise ConfigError(
                f"{root} is not a CRM folder (no {CONFIG_FILE})",
                hint=f"create one with `crm init {root}`",
            )
        return root
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        f"no CRM folder in {start} or any folder above it",
        hint="create one with `crm init`, or name one with --dir PATH or CRM_DIR",
    )


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def config_template(business: str, currency: str, email: str | None, git: bool = True) -> str:
    email_line = f"  email: {_q(email)}" if email else '  # email: "hello@example.com"'
    return f"""\
# crm.yaml: the settings of this CRM folder. Edit it by hand; `crm check` validates it.
# The record files live beside it: contacts/, companies/, leads/, deals/ (one YAML file each).
version: 1

# Your business, as it appears on quotes and invoices.
business:
  name: {_q(business)}
{email_line}
  # phone: "+49 30 1234567"
  # website: "https://example.com"
  # vat_id: "DE298765435"
  # address:
  #   street: "Hauptstraße 1"
  #   postcode: "10115"
  #   city: "Berlin"
  #   country: "DE"

# Currency of deals, quotes and invoices unless a record names its own (ISO 4217 code).
currency: {currency}

# Git (docs/git.md): with autocommit, every crm command that writes commits the files it
# changed, with a message saying what it did; `crm history`, `crm undo` and `crm sync` build on it.
git:
  autocommit: {"true" if git else "false"}

# Email (docs/email.md): the SMTP server `crm invoice send`, `crm quote send`, `crm invoice
# remind` and `crm remind --mail` send through. The password is never kept here: it comes
# from $CRM_SMTP_PASSWORD or the system keyring (`crm mail password`).
# mail:
#   host: smtp.example.com
#   port: 587                  # default by security: 587 starttls, 465 tls, 25 none
#   security: starttls         # starttls, tls or none
#   user: "hello@example.com"
#   bcc: "hello@example.com"   # a copy of each email to you

# The sales pipeline, in order. Each stage has a name (used in the files), an optional label,
# the default probability (0-100) that a deal in it is won, and a status: open, won or lost.
# Several pipelines (sales channels)? Replace `stages:` with, for example:
#   pipelines:
#     design: {{default: true, stages: [{{name: lead, probability: 10}}, ...]}}
#     hosting: {{stages: [...]}}
# and give each deal `pipeline: hosting` (deals without one are in the default pipeline).
stages:
  - name: lead
    probability: 10
  - name: qualified
    probability: 25
  - name: proposal
    probability: 50
  - name: negotiation
    probability: 75
  - name: won
    probability: 100
    status: won
  - name: lost
    probability: 0
    status: lost

# Custom fields, per record type (contact, company, lead, deal). Each has a type: text, number,
# money, date, bool, choice (with values), url or email. Records keep them under `custom:` and
# `crm ... set REF NAME=VALUE` or `--field NAME=VALUE` sets them. For example:
#   contact:
#     birthday: {{type: date}}
#     linkedin: {{type: url, label: LinkedIn}}
#   deal:
#     channel: {{type: choice, values: [referral, website, event]}}
fields:
  contact: {{}}
  company: {{}}
  lead: {{}}
  deal: {{}}

# Lead scoring: each rule gives `points` when its filter (as for --where) holds for a lead;
# bands name the score (at least hot, else at least warm, else cold). See `crm lead score`.
scoring:
  rules:
    - {{when: "emails", points: 10, label: has an email address}}
    - {{when: "phones", points: 5, label: has a phone number}}
    - {{when: "source=referral", points: 20, label: came by referral}}
    - {{when: "budget>0", points: 15, label: budget known (B)}}
    - {{when: "authority=yes", points: 15, label: decides (A)}}
    - {{when: "need", points: 10, label: need known (N)}}
    - {{when: "timeline", points: 10, label: timeline known (T)}}
    - {{when: "last_contact>=today-14", points: 15, label: spoken to in the last 14 days}}
  bands: {{hot: 60, warm: 30}}

# Named filters for --segment on lists, the board and reports, e.g.
#   segments:
#     vip: "tag:vip"
#     big: {{deal: "value>=10000", company: "tag:enterprise"}}
segments: {{}}

# Open deals without a stage change for this many days are `crm report stalled`.
stalled_days: 30

# Keep in touch: contacts and companies with these tags are due for a call, email or meeting
# this long after the last one (a record's own `cadence:` wins). Shown by `crm agenda`.
cadence: {{}}
#   client: 1m
#   prospect: 2w

# Leads still new or contacted after this many days without contact are in the agenda.
follow_up_days: 7

# Quotes and invoices (docs/billing.md). Money is written as quoted strings: "95.00".
billing:
  locale: en_GB          # how documents write dates and amounts (de_DE, fr_FR, en_US, ...)
  tax_rate: "0"          # the default tax rate of lines, in percent, e.g. "19"
  regime: standard       # or reverse_charge, small_business (a customer's tax_regime wins)
  payment_terms: 14      # days from issue to due (a customer's payment_terms wins)
  quote_days: 30         # days a sent quote is valid
  # rounding: per_line   # tax rounded per line instead of per rate (EN 16931)
  # pdf: false           # keep issued documents as HTML instead of PDF (no Pango needed)
  # payment_qr: false    # no EPC QR code (GiroCode) to pay invoices in euros by scanning
  numbering:             # {{year}}, {{yy}} and {{seq:04}}; with a year the series restarts yearly
    invoice: "{{year}}-{{seq:04}}"
    credit_note: "CN{{year}}-{{seq:04}}"
    quote: "Q{{year}}-{{seq:03}}"
  bank: {{}}
  #   holder: "{business}"
  #   iban: "DE02 1203 0000 0000 2020 51"
  #   bic: "BYLADEM1001"
  # notes:               # the legal notes of the regimes, printed on documents
  #   small_business: "Gemäß § 19 UStG wird keine Umsatzsteuer berechnet."
  # reminders:           # payment reminder levels: days after the due date, text, fee
  #   - {{days: 7, text: "A friendly reminder: ..."}}
  #   - {{days: 21, text: "Second reminder: ...", fee: "5.00"}}

# Automation (docs/automation.md): on an event, if a filter (as for --where) holds, do actions.
# Event rules fire within the command that caused the event; time-based ones (task_overdue,
# invoice_overdue, quote_expiring) from `crm rules run` (cron), once per record. For example:
# rules:
#   - name: follow-up-proposal
#     event: stage
#     stage: proposal
#     do:
#       - task: {{title: "Follow up on proposal: {{{{ title }}}}", due: 3d}}
"""


GITIGNORE = f"""\
# crm's own working state: locks, temp files and caches (rebuilt when missing).
/{STATE_DIR}/
"""

GITATTRIBUTES = "".join(
    [
        "# Records merge field by field (`crm merge-file`; `crm hooks install` registers it).\n",
        *(f"/{rtype.plural}/*.yaml merge=crm\n" for rtype in RECORD_TYPES.values()),
    ]
)


def init_plan(
    root: Path, business: str, currency: str, email: str | None, *, git: bool = True
) -> dict[Path, str]:
    """The files a new CRM folder at `root` needs, with their text (existing ones left out).

    Refuses when `root` already holds a CRM.
    """
    if (root / CONFIG_FILE).exists():
        raise ConflictError(f"{root} is already a CRM folder ({CONFIG_FILE} exists)")
    # .gitkeep: git does not keep empty folders
    plan = {root / rtype.plural / ".gitkeep": "" for rtype in RECORD_TYPES.values()}
    plan = {path: text for path, text in plan.items() if not path.exists()}
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        plan[gitignore] = GITIGNORE
    else:
        existing = gitignore.read_text(encoding="utf-8")
        if f"{STATE_DIR}/" not in existing:
            plan[gitignore] = existing + ("" if existing.endswith("\n") else "\n") + GITIGNORE
    attributes = root / ".gitattributes"
    if git and not attributes.exists():
        plan[attributes] = GITATTRIBUTES
    plan[root / CONFIG_FILE] = config_template(business, currency, email, git)
    return plan


def init_folder(plan: dict[Path, str]) -> None:
    """Write the files of `init_plan`, crm.yaml last: a folder is a CRM only once it is complete."""
    for path, text in sorted(plan.items(), key=lambda item: item[0].name == CONFIG_FILE):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write(path, text)


def git_init(root: Path, files: Iterable[Path]) -> str | None:
    """Make `root` a git repository whose first commit holds `files` (and nothing else).

    A folder already inside a git repository is left to its owner. Returns a note when the
    repository or its commit could not be made.
    """
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}

    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, env=env, check=False)

    try:
        inside = git("rev-parse", "--show-toplevel")
    except FileNotFoundError:
        return "git is not installed: the folder is not under version control"
    if inside.returncode == 0:
        top = inside.stdout.decode(errors="replace").strip()
        return f"already inside the git repository {top}: commit the new files yourself"
    for step in (("init", "-q"), ("add", "--", *(str(f.relative_to(root)) for f in files))):
        result = git(*step)
        if result.returncode != 0:
            return f"git {step[0]} failed: {result.stderr.decode(errors='replace').strip()}"
    if git("commit", "-q", "-m", "crm: init").returncode != 0:
        return "git repository created; no first commit (set git's user.name and user.email)"
    return None
