"""Tests across domains: the REST API as a whole, audit, fuzzing, hardening, the CLI, the demo."""
