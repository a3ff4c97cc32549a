"""Text analytics over the stored analyses: trends, spikes, priority, the emotion curve,
themes and verbatims, with their API and jobs."""
