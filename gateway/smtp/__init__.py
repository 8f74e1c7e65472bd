"""The SMTP/LMTP edge: aiosmtpd handler, routing policy, reply catalogue."""
