"""The embedded demo workspace: real corpora (CC BY-SA 4.0, see data/corpora/SOURCE.md) and the
builders of its subjects."""

from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
CORPORA_DIR = DATA_DIR / "corpora"
