"""Cases, referrals and the handoff chain: rules, service and API."""
