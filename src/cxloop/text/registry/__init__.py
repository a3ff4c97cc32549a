"""The model registry: the shipped model and the workspaces' trained model runs, and which one
analyses a workspace's texts."""
