"""The Python adapter to the contracts: compile (compiler), ABIs (artifacts), one sender (sender), decoded
reverts (errors) and logs (events), deployment (deploy), typed clients (stake_manager, job_market,
dispute_game) and a local node for tests (anvil). Knows nothing of HTTP, databases or queues."""
