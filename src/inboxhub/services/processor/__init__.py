"""Email Processor: raw .eml → email document, attachments, follow-up events."""
