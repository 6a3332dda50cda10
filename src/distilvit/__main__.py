from distilvit.cli import entry_point

entry_point()
