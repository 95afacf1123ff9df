"""Radio: path loss, small-scale fading, link rates and airtime, multiple access."""
