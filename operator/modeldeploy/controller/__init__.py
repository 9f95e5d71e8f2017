"""kopf handlers and settings: thin, they call the pure functions of `rollout/`."""
