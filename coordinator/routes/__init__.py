"""The /v1 routers, one module per entity; `coordinator.app` mounts them."""
