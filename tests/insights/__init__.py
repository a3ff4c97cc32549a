"""Tests of insights: CLV models and RFM cells."""
