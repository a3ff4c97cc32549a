"""Tests of the accounts domain: members, roles, keys, invitations and the settings pages."""
