"""envoyscope.sources."""
