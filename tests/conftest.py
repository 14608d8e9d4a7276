"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

from collections.abc import Iterator

# pytester's in-process runs restore sys.modules afterwards, dropping modules first imported
# inside them; numpy's C extension then refuses a second import ("cannot load module more than
# once per process") in whichever later test imports it. Importing it here, before any run,
# keeps it in every snapshot.
import numpy  # noqa: F401
import pytest

pytest_plugins = ["pytester"]


# FALSIFY_DEMO_CACHE too: tests place the demo through FALSIFY_CACHE (or set it themselves).
_AMBIENT = ("FALSIFY_SIGNING_KEY", "FALSIFY_TRUSTED_KEYS", "CI", "FALSIFY_DEMO_CACHE")


@pytest.fixture(autouse=True, scope="session")
def _no_ambient_keys_in_session(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same for module- and session-scoped fixtures, which run before any function-scoped
    fixture: a machine whose user has a key in ~/.config/falsify/keys must not sign their data."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FALSIFY_KEY_DIR", str(tmp_path_factory.mktemp("no-keys-session")))
        for name in _AMBIENT:
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(autouse=True)
def _no_ambient_keys(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No test signs with, or trusts, the keys of the machine it runs on, and none sees CI's
    CI=true (which makes the gate require signatures): tests that need either set them."""
    monkeypatch.setenv("FALSIFY_KEY_DIR", str(tmp_path_factory.mktemp("no-keys")))
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)
