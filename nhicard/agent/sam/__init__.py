"""The SAM and its cryptography: the client that asks a SAM to sign, its wire format,
Triple DES and the component's EnCrypt."""
