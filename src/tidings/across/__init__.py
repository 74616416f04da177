"""Across articles: linking events into clusters (link), the knowledge graph (graph) and watch rules (watch),
over the store's tables.
"""
