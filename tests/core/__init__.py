"""Tests of the core: database, jobs, settings, statistics, after-commit, the domain registry."""
