"""Services: what the CLI and the TUI both call.  They raise LocalctxError and never print."""
