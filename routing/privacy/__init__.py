"""Confidentiality: pseudonyms, sealing, the keyring, retention purges and the audit API."""
