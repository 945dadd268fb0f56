"""The local stack: the API, runner and schedule on this machine, with no AWS account."""
