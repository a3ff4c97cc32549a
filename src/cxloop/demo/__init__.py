"""``cxloop demo``: a workspace with a year of realistic, reproducible customer data."""

from cxloop.demo.build import PHASES, DemoResult, build_demo

__all__ = ["PHASES", "DemoResult", "build_demo"]
