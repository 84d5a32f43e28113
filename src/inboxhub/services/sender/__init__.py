"""Users' outgoing mail (issue 7, send): the API (``routes.py``, ``uploads.py``), the
compose rules (``compose.py``), quotas (``quotas.py``) and the outbox worker that
delivers through each mailbox's own provider (``worker.py``, ``filing.py``)."""
