"""Privacy rules, redaction and legal basis (GDPR/RODO)."""
