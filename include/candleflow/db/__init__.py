"""Database plumbing: the embedded server, connections, migrations and bulk loading."""
