"""The HTTP API: routes, the connection handling, the server, and the daemon's own endpoints."""
