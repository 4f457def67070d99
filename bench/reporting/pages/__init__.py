"""The report's pages, one module each; every module here is imported by
the report and registers its page (bench/reporting/page.py)."""
