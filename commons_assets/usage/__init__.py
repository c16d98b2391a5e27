"""Per-feature usage statistics: the Matomo Reporting API source, the CNIL exemption checks, the stats page."""
