"""The `agora` command: what clients, providers and operators type."""
