"""The campaign runner: one invocation takes or continues a run and sends contact by contact."""
