"""One module per CLI command; each has `register(subcommands)` and sets `run` on its parser."""
