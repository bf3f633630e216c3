"""Typed errors. Raised anywhere below the command layer; turned into exit codes in one place.

Exit codes (documented in docs/cli.md):
  0 ok · 1 problems found (`check`) or an unexpected error · 2 usage · 3 configuration ·
  4 unreadable data · 20 not found · 21 ambiguous reference · 22 invalid value ·
  23 conflict · 24 busy (another command holds the lock) · 25 refused by a hook ·
  26 mail not sent · 27 git cannot go on · 130 interrupted
"""

from __future__ import annotations

from collections.abc import Sequence


class CrmError(Exception):
    """Base of every error a user may see. `str(err)` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(CrmError):
    """A malformed argument: bad KEY=VALUE, bad --where expression."""

    exit_code = 2


class ConfigError(CrmError):
    """No CRM folder, or an invalid crm.yaml."""

    exit_code = 3


class DataError(CrmError):
    """A record file that cannot be read: malformed YAML, wrong shape, bad encoding."""

    exit_code = 4

    def __init__(
        self, path: str, message: str, *, line: int | None = None, hint: str | None = None
    ) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.line = line
        self.detail = message


class NotFoundError(CrmError):
    exit_code = 20


class AmbiguousRefError(CrmError):
    exit_code = 21

    def __init__(self, kind: str, ref: str, candidates: Sequence[str]) -> None:
        shown = ", ".join(candidates[:10]) + (", ..." if len(candidates) > 10 else "")
        super().__init__(
            f"{kind} '{ref}' is ambiguous: {shown}", hint="use a longer prefix or the full id"
        )
        self.candidates = tuple(candidates)


class ValidationError(CrmError):
    """A value that breaks a rule: bad email, unknown stage, probability out of range."""

    exit_code = 22


class ConflictError(CrmError):
    """The change clashes with existing data: id taken, still referenced, duplicate email."""

    exit_code = 23


class BusyError(CrmError):
    exit_code = 24


class RefusedError(CrmError):
    """A pre- hook in the folder's hooks/ refused the change."""

    exit_code = 25


class MailError(CrmError):
    """An email could not be sent: no server set up, refused connection, failed login."""

    exit_code = 26


class GitError(CrmError):
    """A git operation (history, undo, sync) cannot go on: not a repository, a dirty tree,
    a merge that needs the user."""

    exit_code = 27


_notices: list[str] = []


def notice(message: str) -> None:
    """A warning from below the command layer (a change written but not committed): printed
    by the error boundary when the command ends."""
    _notices.append(message)


def take_notices() -> list[str]:
    taken = list(_notices)
    _notices.clear()
    return taken
