// The TypeScript SDK's client (@modelcontextprotocol/sdk) lists the tools of
// one MCP endpoint, so that it checks results against their output schemas,
// then calls one tool and prints one JSON line: whether the call threw (the
// client refuses a successful result of a tool with an output schema that
// lacks structuredContent or does not match it), isError, whether the result
// had structuredContent, and its text.
//
//   node structured.mjs URL TOOL ARGS_JSON
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, tool, argsJSON] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url));
const client = new Client({ name: "mcpproxy-structured", version: "1" });
await client.connect(transport);
const listed = (await client.listTools()).tools.find((t) => t.name === tool);
const out = { listed: !!listed, outputSchema: !!(listed && listed.outputSchema) };
try {
	const res = await client.callTool({ name: tool, arguments: JSON.parse(argsJSON) });
	out.threw = false;
	out.isError = !!res.isError;
	out.structured = res.structuredContent !== undefined;
	out.text = (res.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
} catch (e) {
	out.threw = true;
	out.error = String(e && e.message ? e.message : e).split("\n")[0];
}
await transport.terminateSession().catch(() => {});
await client.close();
console.log(JSON.stringify(out));
