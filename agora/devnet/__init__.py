"""The local devnet behind `agora devnet`: a process supervisor, the devnet's state file and its services."""
