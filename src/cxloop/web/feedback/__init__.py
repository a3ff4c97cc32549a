"""Feedback pages: surveys and their distribution and responses, the public respond flow,
the survey widget, and the closed loop."""
