"""Helpers the test modules share: plain functions and classes, no tests and no fixtures."""
