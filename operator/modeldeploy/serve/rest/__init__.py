"""HTTP endpoints: thin adapters from KServe v1 / Open Inference Protocol v2 to the data plane."""
