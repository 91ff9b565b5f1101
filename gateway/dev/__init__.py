"""Tools for trying the gateway locally: the embedded broker, sample senders, a topic tail."""
