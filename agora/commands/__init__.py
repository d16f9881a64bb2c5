"""One module per command group of `agora` (DESIGN §9)."""
