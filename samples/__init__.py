"""Procedural sample products (see samples/generate.py and samples/README.md)."""
