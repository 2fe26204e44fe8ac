"""mailferry: move an organisation's email from one provider to another, losing nothing."""

__version__ = "0.1.0"
