"""A model subject named by its Hugging Face Hub id, found in the local Hub cache only.

``hub = "org/name"`` (with an optional ``revision``: a branch, a tag or a commit hash) resolves
to the snapshot folder ``huggingface_hub`` keeps in its cache (``models--org--name/snapshots/
<commit>``), by the library's own ``snapshot_download(..., local_files_only=True)``: nothing is
ever downloaded. A model that is not cached is an error naming the repo id, the cache folder and
the fix; never a skip, and never a fallback to another model.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.models.base import ModelLoadError

__all__ = ["HUB_ALIAS", "hub_cache_dir", "resolve_hub"]

# the cache's place and alias live in a module without numpy: reader commands need them
from harness.hubcache import HUB_ALIAS, hub_cache_dir

_COMMIT = re.compile(r"[0-9a-f]{40}")
# A branch or tag name as the Hub allows (``main``, ``v1.0``, ``refs/pr/1``). Checked here because
# the library reads ``refs/<revision>`` as a path without checking it: ``../../x`` would read a
# file outside the cache.
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\-]*(/[A-Za-z0-9_][A-Za-z0-9._\-]*)*")


def _fix(repo_id: str) -> str:
    return (f"download it on a machine with network (`hf download {repo_id}`, the CLI of "
            f"huggingface_hub) and copy the cache here, or set HF_HOME (or HF_HUB_CACHE) to the "
            f"cache that holds it; falsify never downloads")


def _cached_revisions(storage: Path) -> str:
    refs = sorted(p.relative_to(storage / "refs").as_posix()
                  for p in (storage / "refs").rglob("*") if p.is_file())
    snaps = sorted(p.name for p in (storage / "snapshots").glob("*") if p.is_dir())
    if not refs and not snaps:
        return "none"
    return ", ".join([*refs, *(s[:12] for s in snaps)])


def _check_revision(where: str, revision: object) -> str:
    if not isinstance(revision, str) or not _REF.fullmatch(revision) or ".." in revision \
            or revision.endswith((".lock", ".")) or len(revision) > 255:
        msg = (f"{where}: revision {revision!r} is not a branch, tag or 40-hex commit hash; "
               f"write e.g. revision = \"main\" or the commit's full hash")
        raise ModelLoadError(msg)
    return revision


def resolve_hub(repo_id: object, revision: object = None, *, where: str = "model subject",
                cache_dir: Path | None = None) -> Path:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (default ``main``).

    ``where`` names the config entry in messages. Raises :class:`ModelLoadError` (with the repo
    id, the cache folder looked in and the fix) for a malformed id or revision, and for a model
    or revision that is not in the cache.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    from huggingface_hub.file_download import repo_folder_name
    from huggingface_hub.utils import (  # type: ignore[attr-defined]  # lazily exported
        validate_repo_id,
    )

    try:
        if not isinstance(repo_id, str):  # the library's validator lets None through
            msg = f"a {type(repo_id).__name__}, not a string"
            raise HFValidationError(msg)
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        msg = (f"{where}: hub = {repo_id!r} is not a Hub repo id ({exc}); write it as on the "
               f"Hub, e.g. hub = \"Qwen/Qwen3-0.6B\"")
        raise ModelLoadError(msg) from None
    ref = "main" if revision is None else _check_revision(where, revision)
    cache = cache_dir or hub_cache_dir()
    storage = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    try:
        found = Path(snapshot_download(repo_id, revision=ref, cache_dir=cache,
                                       local_files_only=True))
    except LocalEntryNotFoundError as exc:
        if not storage.is_dir():
            msg = (f"{where}: hub model {repo_id!r} is not in the local Hugging Face cache "
                   f"(looked in {storage}); {_fix(repo_id)}")
        else:
            msg = (f"{where}: hub model {repo_id!r} is cached in {storage} but not at revision "
                   f"{ref!r} ({str(exc).splitlines()[0]}); cached: {_cached_revisions(storage)}; "
                   f"set revision to one of those, or {_fix(repo_id)}")
        raise ModelLoadError(msg) from None
    if found.parent != storage / "snapshots" or not _COMMIT.fullmatch(found.name):
        msg = (f"{where}: {storage / 'refs' / ref} does not name a commit snapshot of "
               f"{repo_id!r} (resolved to {found}); the cache entry is damaged: delete "
               f"{storage} and download the model again")
        raise ModelLoadError(msg)
    return found
