"""``dit4dit`` subcommands: one thin module per command (parse arguments → call the library).

See :mod:`dit4dit_policy.cli.main` for the module contract.
"""
