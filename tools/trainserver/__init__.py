"""trainserver: tools that set up and run an on-premise ML training server."""

# Kept here (not read from package metadata) because importlib.metadata costs
# start-up time on every timer run; a unit test checks it against debian/changelog.
__version__ = "0.1.0"
