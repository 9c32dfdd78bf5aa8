"""Typer front end: thin commands over localctx's services."""
