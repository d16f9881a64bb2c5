"""Verde: the pure core of Agora — reproducible operators, training programs, trace commitments, bisection."""
