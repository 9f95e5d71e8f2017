"""Pure decisions about a ModelDeployment's status: no I/O, no kopf."""
