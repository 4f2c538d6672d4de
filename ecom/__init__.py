"""ecom: the one command of the e-commerce streaming warehouse (see ecom.cli)."""
