"""`localctx serve`: the OpenAI-compatible HTTP front end (Starlette on uvicorn) over the same services as
the CLI and the TUI.  Only the `localctx serve` command imports this package."""
