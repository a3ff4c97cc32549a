"""Care pages: the agents' inbox (conversation list, the conversation, the customer beside it)
and the inbox settings."""
