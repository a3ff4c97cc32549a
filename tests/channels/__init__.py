"""Tests of the channels domain: the email outbox, SMTP, notifications."""
