"""Text analytics pages: trends, themes and verbatims, and the admin of tags, taxonomy and
models."""
