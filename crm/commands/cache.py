"""crm cache: the cache of parsed records under .crm/cache/."""

from __future__ import annotations

from crm.commands._options import CrmTyper
from crm.commands._records import done
from crm.context import app_context

app = CrmTyper()


@app.command("clear")
def clear() -> None:
    """Remove the cache of parsed records; the next command reads every file again.

    Never needed: the cache checks every file's size, times and inode on each run and is
    rebuilt by itself when anything differs. The YAML files are the data; the cache only
    spares parsing them again.

    \b
    Example:
      crm cache clear
    """
    from crm.store.cache import Cache

    removed = Cache(app_context().root).clear()
    done(f"Removed {removed} cache file{'' if removed == 1 else 's'}")
