"""What to build and how to map it: search, co-search, validation, and the CLI."""
