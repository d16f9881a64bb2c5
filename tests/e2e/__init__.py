"""End-to-end tests: the whole marketplace on a devnet started by `agora devnet up`."""
