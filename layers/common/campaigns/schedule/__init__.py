"""The schedule's tick: starts due campaigns, continues parked runs, takes over stalled ones."""
