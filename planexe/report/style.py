"""The report's stylesheet, embedded inline so the HTML file stands alone.

Kept as a Python string rather than a .css file so it ships with the package
without package-data configuration. System fonts only: no web fonts, no url().
"""

CSS = """
:root {
  color-scheme: light dark;
  --bg: #eceff3; --paper: #ffffff; --ink: #1b2430; --muted: #5d6877; --rule: #d8dde4;
  --soft: #f4f6f9; --accent: #1f4e79; --accent-soft: #e7eef6;
  --warn-bg: #fff4d6; --warn-edge: #c77700; --warn-ink: #4d3300;
  --bar: #7d9ccb; --bar-l1: #2f5687; --bar-l3: #a9bfdf; --crit: #c2410c; --crit-l1: #9a3412;
  --grid: #e3e7ed; --stripe: #f7f8fa; --dep: #9aa6b5;
  --sans: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", "DejaVu Sans", sans-serif;
  --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e1217; --paper: #161b22; --ink: #e3e8ef; --muted: #9aa5b4; --rule: #2e3742;
    --soft: #1c232c; --accent: #8db7e8; --accent-soft: #1d2a3a;
    --warn-bg: #3a2a05; --warn-edge: #e0a030; --warn-ink: #fbe3b0;
    --bar: #5277ad; --bar-l1: #8db7e8; --bar-l3: #3b5478; --crit: #f07a45; --crit-l1: #ff9966;
    --grid: #262e38; --stripe: #1a2029; --dep: #5d6877;
  }
}
* { box-sizing: border-box; }
html { background: var(--bg); }
body {
  margin: 0; padding: 2rem 1rem 4rem; color: var(--ink); font: 15px/1.55 var(--sans);
  -webkit-text-size-adjust: 100%;
}
.page {
  max-width: 62rem; margin: 0 auto; background: var(--paper); padding: 3rem 3.5rem 2.5rem;
  border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.08), 0 8px 28px rgba(0,0,0,.06);
}
a { color: var(--accent); text-decoration-thickness: 1px; text-underline-offset: 2px; }
h1, h2, h3, h4 { line-height: 1.25; margin: 0; font-weight: 650; letter-spacing: -0.01em; }
h1 { font-size: 2.1rem; margin: .25rem 0 1.25rem; }
h2 { font-size: 1.45rem; }
h3 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; color: var(--accent); }
h4 { font-size: .98rem; margin: 1.2rem 0 .4rem; }
p { margin: .5rem 0; }
.muted { color: var(--muted); }

.banner {
  display: flex; gap: .9rem; align-items: flex-start; margin: 0 0 2rem; padding: 1rem 1.2rem;
  background: var(--warn-bg); color: var(--warn-ink); border: 2px solid var(--warn-edge);
  border-left-width: 8px; border-radius: 4px; font-size: .98rem;
}
.banner .icon { font-size: 1.5rem; line-height: 1; }
.banner strong { display: block; font-size: 1.05rem; margin-bottom: .15rem; }
.banner p { margin: 0; }

.cover { border-bottom: 3px solid var(--accent); padding-bottom: 1.5rem; margin-bottom: 2rem; }
.eyebrow {
  margin: 0; color: var(--accent); font-size: .78rem; font-weight: 700; letter-spacing: .12em;
  text-transform: uppercase;
}
.prompt {
  margin: 0 0 1.2rem; padding: .8rem 1.1rem; border-left: 4px solid var(--rule);
  background: var(--soft); color: var(--ink); font-style: italic; border-radius: 0 4px 4px 0;
}
.prompt .label {
  display: block; font-style: normal; font-size: .75rem; font-weight: 700; color: var(--muted);
  letter-spacing: .08em; text-transform: uppercase; margin-bottom: .2rem;
}
.meta { margin: 0; color: var(--muted); font-size: .88rem; }
.meta span + span::before { content: "\\00b7"; margin: 0 .5rem; }

.toc { margin: 0 0 2.5rem; }
.toc h2 { font-size: 1.05rem; text-transform: uppercase; letter-spacing: .08em; color: var(--muted); }
.toc ol {
  list-style: none; margin: .8rem 0 0; padding: 0; columns: 2 18rem; column-gap: 2.5rem;
  font-size: .92rem;
}
.toc li { break-inside: avoid; padding: .18rem 0; border-bottom: 1px dotted var(--rule); display: flex; gap: .5rem; }
.toc a { text-decoration: none; color: var(--ink); flex: 1; }
.toc a:hover { color: var(--accent); text-decoration: underline; }
.toc .n { color: var(--muted); min-width: 1.8rem; font-variant-numeric: tabular-nums; }
.toc .tag { color: var(--warn-edge); font-size: .72rem; font-weight: 700; text-transform: uppercase; align-self: center; }

.section { margin: 0 0 2.75rem; }
.section-head {
  display: flex; flex-wrap: wrap; align-items: baseline; gap: .4rem 1rem; padding-bottom: .45rem;
  margin-bottom: 1rem; border-bottom: 1px solid var(--rule);
}
.section-head h2 { flex: 1 1 auto; }
.section-head .n { color: var(--accent); margin-right: .6rem; font-variant-numeric: tabular-nums; }
.badges { display: flex; flex-wrap: wrap; gap: .3rem; }
.badge {
  display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .72rem; font-weight: 600;
  background: var(--accent-soft); color: var(--accent); border: 1px solid transparent; white-space: nowrap;
}
.badge.offline { background: var(--warn-bg); color: var(--warn-ink); border-color: var(--warn-edge); }
.badge.code { background: var(--soft); color: var(--muted); border-color: var(--rule); }

.kv { display: grid; grid-template-columns: minmax(9rem, 14rem) 1fr; margin: .6rem 0; border-top: 1px solid var(--grid); }
.kv > dt, .kv > dd { margin: 0; padding: .4rem .6rem .4rem 0; border-bottom: 1px solid var(--grid); }
.kv > dt { color: var(--muted); font-weight: 600; font-size: .9rem; }
.kv > dd { min-width: 0; overflow-wrap: anywhere; }
.kv > dd > :first-child { margin-top: 0; }
.kv > dd > :last-child { margin-bottom: 0; }
ul.list, ol.list { margin: .4rem 0; padding-left: 1.3rem; }
ul.list li, ol.list li { margin: .15rem 0; }

.table-wrap { overflow-x: auto; margin: .7rem 0 1rem; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { text-align: left; vertical-align: top; padding: .42rem .6rem; border-bottom: 1px solid var(--grid); }
thead th {
  background: var(--soft); color: var(--muted); font-size: .74rem; text-transform: uppercase;
  letter-spacing: .05em; border-bottom: 2px solid var(--rule); white-space: nowrap;
}
tbody tr:nth-child(even) td { background: var(--stripe); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td ul.list { margin: 0; padding-left: 1rem; }

.cards { list-style: none; margin: .7rem 0; padding: 0; display: grid; gap: .8rem; }
.card { border: 1px solid var(--rule); border-left: 3px solid var(--accent); border-radius: 4px; padding: .7rem 1rem; break-inside: avoid; }
.card-title { font-weight: 650; margin: 0 0 .3rem; }
.card .kv { border-top: 0; }
.card .kv > dt:last-of-type, .card .kv > dd:last-of-type { border-bottom: 0; }

details { margin: .3rem 0; }
summary { cursor: pointer; color: var(--accent); font-size: .88rem; }
pre { font: .8rem/1.45 var(--mono); background: var(--soft); padding: .6rem .8rem; border-radius: 4px; overflow-x: auto; }

.gantt { margin: .5rem 0 0; }
.gantt svg { display: block; width: 100%; height: auto; font-family: var(--sans); }
.gantt .axis-caption { fill: var(--muted); font-size: 11px; font-weight: 700; letter-spacing: .06em; }
.gantt .tick { fill: var(--muted); font-size: 11px; }
.gantt .grid { stroke: var(--grid); stroke-width: 1; }
.gantt .grid.finish { stroke: var(--muted); stroke-dasharray: 3 3; }
.gantt .stripe { fill: var(--stripe); }
.gantt .label { fill: var(--ink); font-size: 12.5px; }
.gantt .label.l1 { font-weight: 700; }
.gantt .label.l3 { fill: var(--muted); font-size: 12px; }
.gantt .bar { fill: var(--bar); }
.gantt .bar.l1 { fill: var(--bar-l1); }
.gantt .bar.l3 { fill: var(--bar-l3); }
.gantt .bar.critical { fill: var(--crit); }
.gantt .bar.critical.l1 { fill: var(--crit-l1); }
.gantt .dep { fill: none; stroke: var(--dep); stroke-width: 1; opacity: .75; }
.gantt .dep.critical { stroke: var(--crit); opacity: .9; }
.gantt .arrowhead { fill: var(--dep); }
.gantt .arrowhead.critical { fill: var(--crit); }
.gantt g.task:hover .label { fill: var(--accent); }
.legend { display: flex; flex-wrap: wrap; gap: .4rem 1.4rem; margin: .8rem 0 0; font-size: .82rem; color: var(--muted); }
.legend i { display: inline-block; width: 1.6rem; height: .6rem; border-radius: 2px; margin-right: .4rem; vertical-align: middle; }
.legend .sw-l1 { background: var(--bar-l1); height: .45rem; }
.legend .sw-task { background: var(--bar); }
.legend .sw-crit { background: var(--crit); }
.legend .sw-ms { width: .6rem; transform: rotate(45deg); background: var(--bar); }
.note { padding: .8rem 1rem; background: var(--soft); border-radius: 4px; color: var(--muted); }

.summary p { font-size: 1.02rem; }
footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--rule); color: var(--muted); font-size: .8rem; }

@media (max-width: 640px) {
  body { padding: 0; }
  .page { padding: 1.5rem 1.1rem; border-radius: 0; }
  .kv { grid-template-columns: 1fr; }
  .kv > dt { border-bottom: 0; padding-bottom: 0; }
}
@media print {
  :root {
    color-scheme: light;
    --bg: #fff; --paper: #fff; --ink: #000; --muted: #4a5461; --rule: #c4cad3; --soft: #f3f5f8;
    --accent: #1f4e79; --accent-soft: #e7eef6; --warn-bg: #fff4d6; --warn-edge: #c77700; --warn-ink: #4d3300;
    --bar: #7d9ccb; --bar-l1: #2f5687; --bar-l3: #a9bfdf; --crit: #c2410c; --crit-l1: #9a3412;
    --grid: #e3e7ed; --stripe: #f7f8fa; --dep: #9aa6b5;
  }
  @page { margin: 16mm 14mm; }
  html, body { background: #fff; }
  body { padding: 0; font-size: 10.5pt; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .page { max-width: none; padding: 0; box-shadow: none; }
  a { color: inherit; text-decoration: none; }
  h2, h3, h4, .section-head, summary { break-after: avoid; }
  tr, .card, .banner, .prompt { break-inside: avoid; }
  thead { display: table-header-group; }
  .toc { break-after: page; }
  .table-wrap { overflow: visible; }
  details::details-content { content-visibility: visible; display: block; }
}
"""
