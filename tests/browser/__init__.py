"""Browser tests: the real UI in Chromium through Playwright against a live server."""
