"""Voice side: FastAGI call flows for Asterisk and the AMI line monitor."""
