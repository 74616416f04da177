"""The HTTP API: the FastAPI app and its routes (app), aggregates for the dashboard (aggregates), request
limits (guard) and the self-hosted API docs (docs).
"""
