"""ts-alert: the one sink that turns findings into Telegram messages."""
