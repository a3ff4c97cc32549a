"""Care: conversations with customers on every channel, worked by a team in one inbox, with
SLA clocks in business hours."""
