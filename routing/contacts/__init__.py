"""One contact's life on live state, for every channel."""
