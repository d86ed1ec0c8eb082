"""Who may do what: the SQL sandbox today; identities, grants, quotas and the audit trail build on it."""
