"""Tenant service: tenants, users, mailboxes; first-start bootstrap."""
