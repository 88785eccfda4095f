"""Every test gets its own HOME, storage, config dir and git config: never the real machine's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfn_tracker.logger import reset_event_logger
from mfn_tracker.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    for var in list(os.environ):
        if var.startswith(("MFN_", "GIT_", "XDG_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("MFN_EVENT_STORAGE_PATH", str(tmp_path / "events"))
    monkeypatch.setenv("MFN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MFN_EVENT_FSYNC", "never")  # tests that need durability set it
    reset_event_logger()
    yield
    reset_event_logger()


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def storage(settings: Settings) -> Path:
    return settings.storage_path
