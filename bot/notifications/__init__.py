"""What the bot sends on its own or on behalf of several handlers (views plus delivery)."""
