"""Voice of the customer: surveys, responses, scores and the closed loop."""
