"""Training text models: the labelled dataset, the shipped model's training script, and
retraining a workspace's model from weak and strong labels (its jobs and API)."""
