"""Tests of the profiles domain: identity resolution and merge, the consent policy."""
