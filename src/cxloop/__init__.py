"""cxloop: a self-hosted, Korean-first customer-experience platform."""

__version__ = "0.1.0"
