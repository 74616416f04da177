"""The one owner of storage: one schema (schema.py, one MetaData, numbered migrations for every table), the
Store (database.py: SQLite and PostgreSQL), and exports.
"""
