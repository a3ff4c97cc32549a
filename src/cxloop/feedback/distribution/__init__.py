"""Survey distribution: invitations, their links and emails, event triggers and the widget."""
