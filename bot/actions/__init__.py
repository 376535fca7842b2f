"""Custom actions of the shop bot; rasa-sdk imports every module of this package."""
