"""ts-config: check and show /etc/trainserver/trainserver.toml."""
