"""The `alerter` command line: the entry point, `test`/`replay`, and the API clients."""
