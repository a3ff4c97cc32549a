"""Customer pages: the customer list and profile, merge and erase."""
