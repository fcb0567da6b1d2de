"""The web layer: a FastAPI app (JSON API and pages) over the assistant's core."""
