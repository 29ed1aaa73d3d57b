"""envoyscope.model."""
