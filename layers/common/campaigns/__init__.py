"""The WhatsApp campaign runner's domain: models, state machine, runner, senders."""
