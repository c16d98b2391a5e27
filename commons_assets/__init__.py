"""commons-assets: weekly anonymised open-data releases of a public digital service."""

__version__ = "0.1.0"
