"""Account pages: the signed-in user's account, invitations, and the workspace settings for
members, keys, audit log and widget identity."""
