"""One module per caption dataset. Each reads its dataset's real columns and splits (recorded
in the module docstring, with what could not be confirmed) and yields `Example`s."""
