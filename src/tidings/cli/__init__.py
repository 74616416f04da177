"""The command line: typer verbs, one library call each (main: analyze, events, export, …; the plugins eval,
link, scale, serve, train register their verbs on main's app).
"""
