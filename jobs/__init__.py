"""skewguard."""
