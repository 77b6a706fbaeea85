"""The MCP face of PlanExe: tools for agents, over Streamable HTTP at /mcp and over stdio.

- ``tools.py``      the tool table: names, descriptions, input and output models, handlers
- ``inputs.py`` / ``outputs.py``  the tools' typed arguments and structured results
- ``server.py``     the low-level MCP server that validates, dispatches and maps errors
- ``endpoint.py``   /mcp in the FastAPI app: the SDK's Streamable HTTP session manager
- ``waiting.py``    plan_wait: a bounded wait with progress notifications
- ``report_text.py`` the HTML report as plain text (plan_report's Markdown is the REST report.md)
- ``stdio_command.py`` ``planexe mcp``: a stdio server that forwards to a running service

The tools hold no state and no plan logic of their own: each calls
``services/plan_actions``, as the REST routes do, and reports its ApiErrors as
tool errors with the same code and message.
"""
