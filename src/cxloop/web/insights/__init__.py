"""Insights pages: segments and their builder, the RFM grid, clusters, the model registry, and
the predictions panel of the customer page."""
