"""In-app notices to members: each with an email in the member's language, read and marked read
in the web UI. Above ``channels`` (the emails go through its outbox) and ``text`` (it tells of a
category's spike), below the domains that notify (feedback, care)."""
