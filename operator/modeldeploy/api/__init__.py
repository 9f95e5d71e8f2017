"""The ModelDeployment API: pydantic models, the one source of the CRD schema."""
