"""Verifiers (re-run results, challenge, play disputes) and the referee (rules on the one disputed op)."""
