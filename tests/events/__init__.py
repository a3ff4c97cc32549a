"""Tests of the events domain: Segment-compatible ingestion, the bus, imports."""
