"""Customers, identities and their resolution and merge, traits, consent, data-subject rights."""
