"""A small local web dashboard over the dbt marts, read as the BI role ecom_analyst.

data       one read-only snapshot of the marts (and quality.checkpoint_runs)
app        the Dash app: layout, figures, the refresh callback
__main__   ``python -m dashboard``: arguments, a connection check, the server
"""
