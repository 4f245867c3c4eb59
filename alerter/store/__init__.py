"""Durable state: the SQLite store and the files of the state directory around it."""
