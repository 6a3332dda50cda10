"""Training: the loop (no CLI), optimizer and schedule, resumable state, losses."""
