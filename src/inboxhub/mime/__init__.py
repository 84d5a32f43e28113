"""Parsing and building mail: pure functions over bytes and strings, no I/O."""
