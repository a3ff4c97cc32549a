"""Segment-compatible ingestion, the event log and the bus that reads it, commerce events."""
