"""Test helpers shared by every layer: message factories, processes, waiting."""
