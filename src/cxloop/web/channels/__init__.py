"""Channel pages: the outbox settings page (what was sent, retry and cancel)."""
