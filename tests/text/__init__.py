"""Tests of the text library: analysis, stored analyses, analytics, themes, retraining."""
