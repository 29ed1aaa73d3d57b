"""The egress audit (every way out of the mesh, each a real trace) and the detectors of what breaks it."""
