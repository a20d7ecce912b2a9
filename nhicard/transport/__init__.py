"""Card transport: the APDU interface every card user speaks (``Connection``), status
words and GET RESPONSE, and APDU tracing. ``pcsc`` adapts pyscard to it; the virtual card and
the agent's own card answer it too."""
