"""Email API: list, view, raw, attachments and search over the user's mailboxes."""
