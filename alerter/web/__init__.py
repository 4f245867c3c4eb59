"""The web page the daemon serves at `GET /` (DESIGN "Web page"): server-rendered HTML from
Jinja2 templates (autoescaped) plus a small script that keeps it live by polling
`GET /api/v1/page`; no build step, no CDN."""
