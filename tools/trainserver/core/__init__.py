"""What every ts-* tool shares: config, commands, findings, state, locks, metrics, logging."""
