"""Shared infrastructure: settings, database, jobs, errors, i18n. Knows no table and no domain."""
