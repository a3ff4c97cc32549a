"""Metrics pages: the dashboard."""
