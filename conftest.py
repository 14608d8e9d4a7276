"""Loads the falsify pytest plugin for this repository when it is not installed as a package.

Installed (`pip install -e .`), the plugin arrives through the `pytest11` entry point; loading it
twice would be an error, so this only names it when that entry point is absent.
"""

from importlib.metadata import entry_points

if not any(ep.value == "harness.plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["harness.plugin"]
