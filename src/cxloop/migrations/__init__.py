"""Alembic migrations of cxloop's schema (date-named revisions in versions/)."""
