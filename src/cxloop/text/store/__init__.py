"""Stored analyses: what was understood of each source text, people's corrections of it, the
strong labels they make, and the customer merge, export and erasure hooks."""
