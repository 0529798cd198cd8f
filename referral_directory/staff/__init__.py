"""Staff: accounts, the access policy, API tokens and the audit log."""
