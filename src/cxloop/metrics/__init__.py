"""Metrics: score statistics with honest intervals (``stats``) and business KPIs (``kpis``)."""
