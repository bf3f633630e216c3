"""Everything that touches the data folder's files."""
