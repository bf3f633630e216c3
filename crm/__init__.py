"""crm: a command-line CRM for freelancers over plain YAML files."""

__version__ = "0.1.0"
