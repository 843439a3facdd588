"""The tick command side: ``store`` (the one write path of ticks), ``imports`` (vendor files),
``collector`` (the live stream) and ``jobs`` (what the DAGs and the CLI call)."""
