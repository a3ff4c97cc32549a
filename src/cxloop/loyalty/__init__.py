"""Loyalty: points, tiers, rewards, badges and challenges."""
