// A real TypeScript MCP client (@modelcontextprotocol/sdk) making tool calls
// through mcpproxy over streamable HTTP, one session, many calls: the way
// agents built on the TypeScript SDK call tools. It prints one JSON line:
// the calls made, those whose text was as expected, and the content types
// of the responses to tools/call (mcpproxy answers plain calls as
// application/json, in front of its MCP SDK; anything else as an event
// stream).
//
//   node tsclient.mjs URL TOOL ARGS_JSON WANT_TEXT [CALLS]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, tool, argsJSON, want, n = "20"] = process.argv.slice(2);
const types = {};
const transport = new StreamableHTTPClientTransport(new URL(url), {
	fetch: async (input, init) => {
		const res = await fetch(input, init);
		const body = typeof init?.body === "string" ? init.body : "";
		if (body.includes('"tools/call"')) {
			const t = (res.headers.get("content-type") || "none").split(";")[0];
			types[t] = (types[t] || 0) + 1;
		}
		return res;
	},
});
const client = new Client({ name: "mcpproxy-tsclient", version: "1" });
await client.connect(transport);
let ok = 0;
const calls = Number(n);
for (let i = 0; i < calls; i++) {
	const res = await client.callTool({ name: tool, arguments: JSON.parse(argsJSON) });
	if (!res.isError && res.content?.[0]?.text === want) ok++;
	else console.error(JSON.stringify(res));
}
await transport.terminateSession().catch(() => {});
await client.close();
console.log(JSON.stringify({ calls, ok, types }));
