"""The admin terminal UI: a Textual app over gateway's service layer (``bccrm admin``)."""
