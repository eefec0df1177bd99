"""The `stocktune` command: one thin module per subcommand on top of the layers below.

A command parses its arguments, calls one function of data_prep, model or tuner, and prints. No
domain logic lives here, and nothing below imports this package.
"""
