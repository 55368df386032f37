"""Relay's door to the network: the one outbound HTTP client for addresses strangers choose."""
