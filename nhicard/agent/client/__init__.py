"""Card-agent clients: reach the card through our own PC/SC layer (``direct``) or the
official component (``nhiicc``, ``nhiicc_http``); ``factory.open_agent`` picks one."""
