"""Storing: the SQLite results store (store), its schema and the migrations
that bring older stores up to it (schema), and whether the process writing a
run is still alive (liveness)."""
