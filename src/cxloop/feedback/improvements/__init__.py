"""Improvements ("you said, we did"): what changed, the responses behind it, and telling them."""
