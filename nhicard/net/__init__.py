"""Network and TLS for every network user: verifying TLS contexts, certificates, what a
failed connection was, URL and address checks, and the certificate-chain reader."""
