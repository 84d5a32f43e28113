"""Mail Fetcher: runs mailbox connectors, stores raw .eml, emits email.eml.uploaded."""
