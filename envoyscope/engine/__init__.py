"""Envoy's decisions as pure functions over a dump's raw (snake_case, v3) resources.

Imports only envoyscope.model; never textual, rich, httpx or kubernetes.
"""
