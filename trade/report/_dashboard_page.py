"""The live dashboard page: inline CSS and JS, an SSE stream, a canvas equity chart."""

from trade.report._assets import asset
from trade.report._html import CSS, THEME_JS

DASHBOARD_HTML = (
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<link rel="icon" href="data:,">'
    f"<title>trade · live</title><style>{CSS}</style><script>{THEME_JS}</script></head>"
    f"<body>{asset('dashboard_body.html')}<script>{asset('dashboard.js')}</script></body></html>"
)
