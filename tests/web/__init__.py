"""Tests of the shared web layer: sessions, customer pages, errors in the user's language, i18n."""
