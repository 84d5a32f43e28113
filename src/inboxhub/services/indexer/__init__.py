"""Email Indexer: ``email.index.requested`` → the search index."""
