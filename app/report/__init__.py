"""What the on-call load looks like over a period: figures, charts, and where they are shown.

- `model`: the figures as typed data (the contract between computing and rendering)
- `figures`: computing them, purely, from what the store holds for a period
- `text`, `as_json`: a terminal's rendering and the JSON with stable keys
- `charts`: the charts (matplotlib, Agg), as SVG for the HTML report and PNG for Slack
- `html`: the HTML report, one self-contained file
"""
