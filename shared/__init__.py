"""What producers, workers and operators agree on: settings, messages, errors, storage."""
