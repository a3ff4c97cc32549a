"""Tests of the feedback domain: surveys, distribution, responses, the closed loop, the widget."""
