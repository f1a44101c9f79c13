"""The register: service discovery for gateways. Holds no client state."""
