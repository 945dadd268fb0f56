"""How a message leaves: the Sender interface and its outcomes, the dry run, the WAHA client and sender."""
