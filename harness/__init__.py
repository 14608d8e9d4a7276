"""falsify: research claims as contracts, falsified by pytest over live models and runs."""

__version__ = "0.1.0"
