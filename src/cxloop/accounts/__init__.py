"""Workspaces, users and roles, sessions, API and write keys, access checks, audit log."""
