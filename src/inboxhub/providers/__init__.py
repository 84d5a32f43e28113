"""Mailbox connectors: each yields raw messages with a stable provider message id."""
