"""Follow-ups of unhappy answers: the board, the notices and digests, and their jobs."""
