"""Channels: how cxloop reaches people. Email goes out over SMTP from an outbox table, so a
retried job never sends a message twice and every send is on record."""
