"""harness.api: one import place for falsifier authors, cheap to import, every name real."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import harness.api
from harness.models.base import LiveModel

# Import the API, then touch every public name, with the model frameworks blocked: none of them
# may import torch or mlx (a model's framework loads with the model). The optional `runs` extra
# (rapidfuzz) is not imported by the import itself.
SCRIPT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "mlx", "mlx_lm", "transformers"}:
            raise ImportError(f"harness.api imported {name}")
        return None
sys.meta_path.insert(0, Block())
import harness.api
on_import = sorted(m for m in ("rapidfuzz", "harness.runs.bundle", "harness.models")
                   if m in sys.modules)
for name in harness.api.__all__:
    getattr(harness.api, name)
print(on_import)
"""


def test_import_pulls_no_framework() -> None:
    """`import harness.api` and every name in it work with torch, mlx and transformers blocked."""
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=False, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", harness.api.__all__)
def test_every_public_name_is_the_defining_object(name: str) -> None:
    """Each name resolves, is documented, and is the object of the module that defines it."""
    value = getattr(harness.api, name)
    assert inspect.getdoc(value), f"{name} has no docstring"
    home = importlib.import_module(value.__module__)
    assert getattr(home, value.__name__) is value


def test_unknown_name_is_an_attribute_error() -> None:
    """A misspelt import fails like any module's, naming where the public names are."""
    with pytest.raises(AttributeError, match=r"heldout_nll.*__all__"):
        _ = harness.api.heldout_nll
    with pytest.raises(ImportError):
        exec("from harness.api import heldout_nll", {})
    assert set(harness.api.__all__) <= set(dir(harness.api))


def _protocol_members() -> set[str]:
    return {n for n in dir(LiveModel) if not n.startswith("_")} | set(
        LiveModel.__annotations__)


@pytest.mark.parametrize(("module", "cls"), [("harness.models.torch_backend", "TorchModel"),
                                             ("harness.models.mlx_backend", "MlxModel")])
def test_backends_implement_the_whole_protocol(module: str, cls: str) -> None:
    """Both backends carry every member of LiveModel: methods on the class, attributes set
    in __init__ (read from its source: no model is loaded here)."""
    backend = getattr(pytest.importorskip(module), cls)
    source = inspect.getsource(backend)
    missing = sorted(m for m in _protocol_members()
                     if not hasattr(backend, m) and f"self.{m} " not in source
                     and f"self.{m}," not in source)
    assert missing == []
