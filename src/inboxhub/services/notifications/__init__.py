"""Notification service: live events (WebSocket /api/v1/ws, SSE /api/v1/events) to the
clients allowed to see them, resumable from a cursor (docs/notifications.md)."""
