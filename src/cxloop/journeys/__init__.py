"""Journeys: the stages and touchpoints of the customer's life, the journey map, funnels, paths
and retention, all counted from the event log."""
