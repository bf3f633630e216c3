"""What every command needs, built once per run: the folder, its store and its settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from crm.errors import ConfigError

if TYPE_CHECKING:  # the store pulls in PyYAML: not for --help
    from crm.config import Config
    from crm.store.repo import Store


@dataclass(frozen=True, slots=True)
class Settings:
    """The global options: `--dir` / CRM_DIR and `--debug` / CRM_DEBUG."""

    dir: Path | None = None
    debug: bool = False


_settings = Settings(debug=os.environ.get("CRM_DEBUG", "") not in ("", "0"))


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings


def settings() -> Settings:
    return _settings


class AppContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def root(self) -> Path:
        from crm.store.folder import find_root

        return find_root(self.settings.dir, Path.cwd())

    @cached_property
    def store(self) -> Store:
        from crm.store.repo import Store

        return Store(self.root)

    @cached_property
    def config(self) -> Config:
        config, issues = self.store.config()
        if issues:
            raise ConfigError(str(issues[0]), hint="run `crm check` to see every problem")
        return config


def app_context() -> AppContext:
    return AppContext(_settings)
