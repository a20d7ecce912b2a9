"""The card agent: what a web page asks of the NHI card (nhi-agent.md).

``base`` defines the :class:`~nhicard.agent.base.CardAgent` interface; ``direct`` talks to the
card through our own PC/SC layer and SAM client, ``nhiicc`` to the official component over
WebSocket; ``factory.open_agent`` picks one.
"""

DEFAULT_AGENT_URL = "wss://iccert.nhi.gov.tw:7777/echo"
"""Where the official component listens (its installer maps ``iccert.nhi.gov.tw`` to
127.0.0.1); the default of ``--agent-url``."""
