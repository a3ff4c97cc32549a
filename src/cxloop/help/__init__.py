"""Self-service: the knowledge base (articles in Korean and English), the public help centre,
and the bot that answers from it on every channel and hands over to people when it should."""
