"""envoyscope.tui."""
