"""dualid: privacy-preserving identity and consent for reservation and event platforms."""

__version__ = "0.1.0"
