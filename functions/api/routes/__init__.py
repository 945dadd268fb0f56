"""The API's routes, one Powertools `Router` per resource. Each route reads its
request, calls one use case of `campaigns.api` and returns the answer's model;
errors are mapped to HTTP once, in `campaigns.api.errors`."""
