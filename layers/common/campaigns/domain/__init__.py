"""The product's rules in pure Python: statuses, personalisation, phone numbers, errors. No I/O."""
