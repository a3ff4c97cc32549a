"""Responses to surveys: taking, importing and listing them, and their score summaries."""
