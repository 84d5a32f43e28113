"""The web inbox: the single-page app built from ``web/`` served at ``/``."""
