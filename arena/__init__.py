"""The off-chain game agent every party runs: the solver's moves sent as transactions (responder), one game played
to the end (player), the referee's evidence board, and the chain topics they watch. Defender, challenger and
referee all use it; it imports none of them."""
