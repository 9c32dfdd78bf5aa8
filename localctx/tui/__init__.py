"""The Textual front end: screens over the same services the CLI uses (``make_app``/``run_tui`` in app.py)."""
