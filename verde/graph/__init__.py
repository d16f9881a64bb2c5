"""Graph programs: exported PyTorch training graphs as data (format), checked (allowlist, bounds) and run by Verde."""
