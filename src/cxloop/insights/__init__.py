"""Insights: customer lifetime value (``clv``) and RFM cells (``rfm``) as pure models over arrays,
and the per-customer purchase histories they start from, read from the orders (``features``)."""
