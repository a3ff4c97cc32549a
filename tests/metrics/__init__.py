"""Tests of the metrics domain: the CX dashboard and business KPIs."""
