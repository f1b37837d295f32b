"""An MCP client that is not ours: the official Python SDK talking to `clawgate mcp` over stdio.

    python mcp_client.py CLAWGATE_BINARY TOOL ARGUMENTS_JSON

Starts `CLAWGATE_BINARY mcp` with the CLAWGATE_* and LOG_LEVEL variables of this process's
environment, initializes, lists the tools and calls TOOL with ARGUMENTS_JSON (asking for progress
notifications). Prints three JSON lines on stdout, each as soon as it is known:
{"initialize": …}, {"tools": […]} and {"result": CallToolResult, "progress": [messages]}.
Used by tests/api/agents/mcp.rs; needs the `mcp` package (scripts/test installs it into target/test-venv).
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, Implementation, StdioServerParameters
from mcp.client.stdio import stdio_client


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def say(**line):
    print(json.dumps(line), flush=True)


async def main(binary, tool, arguments):
    env = {k: v for k, v in os.environ.items() if k.startswith("CLAWGATE_") or k == "LOG_LEVEL"}
    server = StdioServerParameters(command=binary, args=["mcp"], env=env)
    progress = []

    async def on_progress(value, total, message):
        progress.append(message)

    async with stdio_client(server) as (read, write):
        me = Implementation(name="mcp-test-client", version="1")
        async with ClientSession(read, write, client_info=me) as session:
            say(initialize=dump(await session.initialize()))
            say(tools=[dump(t) for t in (await session.list_tools()).tools])
            result = await session.call_tool(tool, arguments, progress_callback=on_progress)
            say(result=dump(result), progress=progress)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
