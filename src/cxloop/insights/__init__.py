"""Insights: customer lifetime value (``clv``) and RFM cells (``rfm``), pure models over arrays."""
