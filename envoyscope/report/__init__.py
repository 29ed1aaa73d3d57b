"""envoyscope.report."""
