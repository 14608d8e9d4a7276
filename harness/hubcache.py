"""Where the Hugging Face Hub cache is, and how records write paths in it.

Kept apart from ``harness.models.hub`` (which imports the model stack) so that reader commands
(``falsify status``, ``gate``) can alias recorded Hub paths without importing numpy or torch.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HUB_ALIAS", "hub_cache_dir"]

# How a record writes a path in the Hub cache, wherever the cache is on the machine that checks
# it (see ``Workspace.input_aliases``).
HUB_ALIAS = ".hf-hub-cache"


def hub_cache_dir() -> Path:
    """The Hub cache folder, by huggingface_hub's rules, read from the environment now.

    The library reads ``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME`` and
    ``XDG_CACHE_HOME`` once, when it is first imported (transformers imports it early); the same
    rules are applied here at each call so that a variable set later is honored, not ignored.
    """
    home = os.path.expandvars(os.path.expanduser(os.getenv(
        "HF_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                "huggingface"))))
    legacy = os.getenv("HUGGINGFACE_HUB_CACHE", os.path.join(home, "hub"))
    return Path(os.path.expandvars(os.path.expanduser(os.getenv("HF_HUB_CACHE", legacy))))
