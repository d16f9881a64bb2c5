"""The coordinator: REST API, chain indexer, matching engine and dispatch (DESIGN §8); `coordinator.app` wires it."""
