"""Pure verification of who vouched for a message: DKIM signatures and our MTA's A-R headers.

No database, no configuration objects: callers pass the author domain, the authserv-id and a
DNS lookup function, so every check runs the same in the worker, in tests and in ``--dry-run``.
"""

from gateway.verify.align import aligned
from gateway.verify.authres import (
    AuthResult,
    dkim_pass_from_results,
    header_fields,
    parse_authentication_results,
    trusted_results,
)
from gateway.verify.dkim import DkimVerdict, SignatureResult, verify_dkim
from gateway.verify.dns import TemporaryDNSError, make_txt_lookup

__all__ = [
    "AuthResult",
    "DkimVerdict",
    "SignatureResult",
    "TemporaryDNSError",
    "aligned",
    "dkim_pass_from_results",
    "header_fields",
    "make_txt_lookup",
    "parse_authentication_results",
    "trusted_results",
    "verify_dkim",
]
