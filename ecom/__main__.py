from ecom.cli import run

run()
