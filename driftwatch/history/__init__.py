"""Schema history: what changed in a target and when, from one observation to the next
(`entries`, pure), kept in a bounded file beside the daemon's state file (`store`)."""
