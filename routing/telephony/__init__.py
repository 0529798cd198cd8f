"""Twilio voice: signatures, the IVR, dialling with slots, status callbacks, degraded mode."""
