"""Clients of the backends the bot's actions talk to, one module per system."""
