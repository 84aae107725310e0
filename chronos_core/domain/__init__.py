"""Domain entities, enums, validation rules and the status state machines."""
