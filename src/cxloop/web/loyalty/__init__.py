"""The loyalty pages: the program's settings, the members list, the dashboard and the member
block of the customer page."""
