"""Notification service: pushes email.processed to the clients allowed to see it."""
