"""Help pages: the public help centre of a workspace's knowledge base."""
