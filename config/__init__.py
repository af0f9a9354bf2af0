"""Shipped configuration and reference data: ``riskwatch.yaml``, the product catalogue,
the GB/T 2260 region table and the opinion dictionaries. ``DIR`` is where they live."""

from pathlib import Path

__all__ = ["DIR"]

DIR = Path(__file__).resolve().parent
