"""Surveys: their definitions (questions, branching, thank-you texts), versions and status."""
