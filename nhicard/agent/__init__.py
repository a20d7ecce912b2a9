"""The card agent: what a web page asks of the NHI card (nhi-agent.md).

``base`` defines the :class:`~nhicard.agent.base.CardAgent` interface; ``direct`` talks to the
card through our own PC/SC layer and SAM client, ``nhiicc`` to the official component over
WebSocket; ``factory.open_agent`` picks one.
"""

COMPONENT_HOST = "iccert.nhi.gov.tw"
"""The official component's host name (its installer maps it to 127.0.0.1 in the hosts
file); ``agent serve`` answers to it too."""
COMPONENT_PORT = 7777
"""The component's WebSocket port, and ``agent serve``'s."""
COMPONENT_HTTP_PORT = 59001
COMPONENT_HTTPS_PORT = 59002
"""The ports of the HTTP API of the component's Windows builds (``/api/``)."""

DEFAULT_AGENT_URL = f"wss://{COMPONENT_HOST}:{COMPONENT_PORT}/echo"
"""Where the official component listens; the default of ``--agent-url``."""
