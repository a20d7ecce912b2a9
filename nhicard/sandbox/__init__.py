"""The local replica of the sites, the SAM server, the mail and the cards (sites.md)."""
