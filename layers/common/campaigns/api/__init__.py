"""The HTTP API's use cases, request and response models, and the one mapping of errors to HTTP."""
