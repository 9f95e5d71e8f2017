"""Authentication and authorization of the sandbox API server, as kube-apiserver does them.

TLS with a CA of the sandbox's own (`pki`), client certificates and service-account tokens
(`authn`, `tokens`), RBAC (`rbac`, `policy`, `escalation`), and the review and TokenRequest
endpoints (`reviews`).
"""
