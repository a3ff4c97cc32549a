"""The team's survey pages: the list and a new survey, the builder, the distribution settings
and the responses."""
