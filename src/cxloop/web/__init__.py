"""The server-rendered web UI: layout, sign-in, customers, the customer 360 view, settings."""
