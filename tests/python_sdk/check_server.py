"""The official MCP Python SDK (mcp 2.3) against a running music21-prod, as a desktop
assistant would use it: tools with progress, resources (list, read, subscribe and the
update that follows), prompts, completions, logging, and cancellation.

    python check_server.py MODE http URL          (a server started with `serve`)
    python check_server.py MODE stdio BINARY ...  (starts `BINARY serve --stdio ...` itself)

MODE is the SDK's connect mode: `legacy` (the initialize handshake: protocol 2025-11-25)
or `auto` (`server/discover` first: protocol 2026-07-28). In 2026-07-28 resource
subscriptions and `logging/setLevel` were replaced (subscriptions/listen, per-request log
levels), which this server does not offer yet: those two checks run in `legacy` mode.

Prints one line per check and exits 1 on the first failure. tests/python_sdk.rs runs it.
"""

import asyncio
import json
import os
import sys

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        sys.exit(1)


async def run(target, mode, hanging_source):
    heard = []
    sid = f"chorale-{os.getpid()}"

    async def on_message(message):
        heard.append(message)

    async def heard_one(kind, seconds):
        for _ in range(int(seconds * 10)):
            if any(isinstance(m, kind) for m in heard):
                return True
            await anyio.sleep(0.1)
        return False

    async with Client(target, mode=mode, message_handler=on_message, read_timeout_seconds=60) as client:
        tools = await client.list_tools()
        names = {t.name for t in tools.tools}
        check(len(names) == 15 and "import_score" in names, f"tools/list: {len(names)} tools")

        steps = []

        async def on_progress(progress, total, message):
            steps.append((progress, total, message))

        imported = await client.call_tool(
            "import_score",
            {"source": "builtin/chorale-g-major", "score_id": sid},
            progress_callback=on_progress,
        )
        check(not imported.is_error, "import_score answered")
        check(imported.structured_content["score_id"] == sid, "structured content")
        check(len(steps) >= 1, f"progress notifications: {len(steps)}")
        values = [s[0] for s in steps]
        check(values == sorted(values) and all(s[1] == 100 for s in steps), f"progress rises: {values}")

        key = await client.call_tool("key_analysis", {"score_id": sid})
        check(key.structured_content["key"]["tonic"] == "G", "key_analysis: G")

        listed = await client.list_resources()
        uris = [r.uri for r in listed.resources]
        check(f"music21://scores/{sid}" in [str(u) for u in uris], f"resources/list: {len(uris)}")
        read = await client.read_resource(f"music21://scores/{sid}")
        summary = json.loads(read.contents[0].text)
        check(summary.get("score_id") == sid or "parts" in json.dumps(summary), "resources/read")
        templates = await client.list_resource_templates()
        check(len(templates.resource_templates) >= 1, "resources/templates/list")

        if mode == "legacy":
            await client.subscribe_resource(f"music21://scores/{sid}")
            await client.call_tool("delete_score", {"score_id": sid})
            check(
                await heard_one(types.ResourceUpdatedNotification, 10),
                "notifications/resources/updated after the followed score was deleted",
            )

        prompts = await client.list_prompts()
        check(len(prompts.prompts) >= 4, f"prompts/list: {len(prompts.prompts)}")
        prompt = await client.get_prompt("analyze_piece", {"piece": "builtin/chorale-g-major"})
        text = prompt.messages[0].content.text
        check("key_analysis" in text, "prompts/get names the tools")

        done = await client.complete(
            types.PromptReference(type="ref/prompt", name="analyze_piece"),
            {"name": "piece", "value": "builtin/ch"},
        )
        check(
            any(v.startswith("builtin/chorale") for v in done.completion.values),
            f"completion/complete: {done.completion.values[:3]}",
        )

        if mode == "legacy":
            await client.set_logging_level("info")
            await client.call_tool("list_scores", {})
            check(
                await heard_one(types.LoggingMessageNotification, 5),
                "notifications/message after logging/setLevel",
            )

        # Cancellation: a call that would run for minutes, abandoned after a second.
        if hanging_source is not None:
            with anyio.move_on_after(1.5) as scope:
                await client.call_tool(
                    "import_score",
                    {"score_id": f"hang-{os.getpid()}", "source": hanging_source, "source_type": "text"},
                )
            check(scope.cancelled_caught, "the hanging call was cancelled by the client")
            # The session goes on.
            after = await client.call_tool("list_scores", {})
            check(not after.is_error, "the session answers after the cancellation")


def main():
    mode, transport = sys.argv[1], sys.argv[2]
    hanging = None
    if len(sys.argv) > 4 and sys.argv[-2] == "--hanging":
        hanging = open(sys.argv[-1]).read()
        args = sys.argv[3:-2]
    else:
        args = sys.argv[3:]
    if transport == "http":
        target = args[0]
    else:
        target = StdioServerParameters(command=args[0], args=["serve", "--stdio", *args[1:]])
    asyncio.run(run(target, mode, hanging))
    print("all checks passed", flush=True)


main()
