"""Reporting: the report's frame of measurements (frame), the page seam
(page), one module per page (pages/), what pages share (common), and the
report that has every registered page write itself (report).  Pages are
Jinja2 templates (templates/) filled in from the frame."""
