"""envoyscope: see what every Envoy on a request's path will do with it, and why."""

__version__ = "0.1.0"
