"""Webhooks: tenants' subscriptions to events, delivered as signed HTTP POSTs.

``routes.py`` (tenant admins manage subscriptions and read the log), ``consumer.py``
(bus events → delivery rows), ``worker.py`` (delivery rows → HTTP, with retries),
``signing.py`` (the signature receivers verify), ``outbound.py`` (URL checks: https,
no internal addresses, resolved once and pinned).
"""
