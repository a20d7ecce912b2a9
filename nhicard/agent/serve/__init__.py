"""The serving side of the agent: ``agent serve`` (admission, WebSocket, HTTP API,
origins, TLS material, port choice) and ``agent install`` (login service, hosts line, trust
stores)."""
