"""Dataset and caption quality: bias term lexicons (`lexicons`), more to come."""
