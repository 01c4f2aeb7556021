// One column of the client matrix (cmd/mcpproxy/clients_test.go): the
// TypeScript SDK's client (@modelcontextprotocol/sdk), with sampling,
// elicitation and roots, runs the same checks against one MCP endpoint whose
// tools are server-everything's, and prints one JSON object: check → outcome.
// Outcomes are normalized so that the proxy's column can be compared with
// the upstream's own: "ok …" with what was seen, "fail: …", or "n/a: …".
//
//   node matrix.mjs --url URL [--sse] [--mode direct|all|smart] [--server NAME]
//   node matrix.mjs --stdio COMMAND [ARG...]
//
// --sse speaks the legacy SSE transport to URL instead of streamable HTTP.
//
// mode says how a tool of server-everything is called: direct (by its name,
// the upstream itself or the pass-through), all (NAME__tool on /mcp/all) or
// smart (call_tool with NAME:tool on /mcp).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import {
	CreateMessageRequestSchema,
	ElicitRequestSchema,
	ListRootsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

const argv = process.argv.slice(2);
const opt = (name, def) => {
	const i = argv.indexOf(name);
	return i >= 0 ? argv[i + 1] : def;
};
const url = opt("--url");
const stdio = argv.indexOf("--stdio") >= 0 ? argv.slice(argv.indexOf("--stdio") + 1) : null;
const mode = opt("--mode", "direct");
const server = opt("--server", "everything");
const sse = argv.includes("--sse");

const ROOT = "file:///matrix-root";

// connect opens a client named name whose model answers sampling with
// "answer from NAME" after delay ms.
async function connect(name, delay = 0) {
	const client = new Client(
		{ name, version: "1" },
		{ capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } },
	);
	client.setRequestHandler(CreateMessageRequestSchema, async () => {
		if (delay) await new Promise((r) => setTimeout(r, delay));
		return { model: name, role: "assistant", content: { type: "text", text: `answer from ${name}` } };
	});
	client.setRequestHandler(ElicitRequestSchema, async () => ({
		action: "accept",
		content: { name: name, check: true, color: "red", email: "a@example.com", integer: 7, number: 7, petType: "cats" },
	}));
	client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: ROOT, name: "matrix" }] }));
	const transport = stdio
		? new StdioClientTransport({ command: stdio[0], args: stdio.slice(1), stderr: "ignore" })
		: sse
			? new SSEClientTransport(new URL(url))
			: new StreamableHTTPClientTransport(new URL(url));
	await client.connect(transport);
	return { client, transport };
}

async function close({ client, transport }) {
	if (transport.terminateSession) await transport.terminateSession().catch(() => {});
	await client.close().catch(() => {});
}

// call calls server-everything's tool as mode says.
function call(client, tool, args, options) {
	let params = { name: tool, arguments: args };
	if (mode === "all") params = { name: `${server}__${tool}`, arguments: args };
	if (mode === "smart") params = { name: "call_tool", arguments: { name: `${server}:${tool}`, args } };
	return client.callTool(params, undefined, options);
}

const text = (res) => (res.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

// outcome runs one check, turning a throw into "fail: message".
async function outcome(fn) {
	try {
		const o = await fn();
		// call_tool names a tool that is not listed (see listed) this way.
		return /^fail: unknown tool/.test(o) ? "n/a: tool not listed" : o;
	} catch (e) {
		return `fail: ${String(e && e.message ? e.message : e).split("\n")[0].slice(0, 160)}`;
	}
}

const out = {};
const main = await connect("matrix-a");
const c = main.client;

let tools = [];
out.list = await outcome(async () => {
	tools = (await c.listTools()).tools.map((t) => t.name);
	if (mode === "smart") return tools.includes("call_tool") ? "ok: built-in tools" : `fail: ${tools}`;
	const prefix = mode === "all" ? `${server}__` : "";
	const names = tools.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)).sort();
	out.tools = names.join(",");
	return `ok: ${names.length} tools`;
});
// listed says whether server-everything's tool shows to this client: it
// registers the sampling, elicitation and roots tools only for clients that
// declared them.
const listed = (tool) => mode === "smart" || tools.includes(mode === "all" ? `${server}__${tool}` : tool);

out.call = await outcome(async () => {
	const res = await call(c, "echo", { message: "matrix" });
	return res.isError ? `fail: ${text(res)}` : `ok: ${text(res)}`;
});

// structured: get-structured-content declares an output schema; where the
// client listed it (the upstream, the pass-through, /mcp/all) the SDK's
// client checks the result's structuredContent against it and throws when
// it is missing or does not match.
out.structured = await outcome(async () => {
	const res = await call(c, "get-structured-content", { location: "Chicago" });
	if (res.isError) return `fail: ${text(res)}`;
	const sc = res.structuredContent;
	return sc && typeof sc.temperature === "number" ? "ok: structured content" : "fail: no structured content";
});

out.progress = await outcome(async () => {
	let n = 0;
	const res = await call(c, "trigger-long-running-operation", { duration: 1, steps: 3 }, { onprogress: () => n++ });
	if (res.isError) return `fail: ${text(res)}`;
	return n >= 1 ? "ok: progress before the result" : "fail: no progress notification";
});

out.cancel = await outcome(async () => {
	const ac = new AbortController();
	const start = Date.now();
	setTimeout(() => ac.abort("matrix cancel"), 300);
	try {
		await call(c, "trigger-long-running-operation", { duration: 20, steps: 20 }, { signal: ac.signal });
		return "fail: the call completed";
	} catch {
		const ms = Date.now() - start;
		return ms < 5000 ? "ok: cancelled" : `fail: cancelled after ${ms} ms`;
	}
});

out.resources = await outcome(async () => {
	if (mode !== "direct") return "n/a: built-in endpoint";
	const list = await c.listResources();
	const first = list.resources[0];
	const read = await c.readResource({ uri: first.uri });
	return read.contents.length > 0 ? `ok: ${list.resources.length} listed, read` : "fail: empty read";
});

out.prompts = await outcome(async () => {
	if (mode !== "direct") return "n/a: built-in endpoint";
	const list = await c.listPrompts();
	return `ok: ${list.prompts.length} prompts`;
});

out.sampling = await outcome(async () => {
	if (!listed("trigger-sampling-request")) return "n/a: tool not listed";
	const res = await call(c, "trigger-sampling-request", { prompt: "hi" });
	if (res.isError) return `fail: ${text(res)}`;
	return text(res).includes("answer from matrix-a") ? "ok: answered by its caller" : `fail: ${text(res).slice(0, 120)}`;
});

out.elicitation = await outcome(async () => {
	if (!listed("trigger-elicitation-request")) return "n/a: tool not listed";
	const res = await call(c, "trigger-elicitation-request", {});
	if (res.isError) return `fail: ${text(res)}`;
	return text(res).includes("Name: matrix-a") ? "ok: accepted by its caller" : `fail: ${text(res).slice(0, 120)}`;
});

out.roots = await outcome(async () => {
	if (!listed("get-roots-list")) return "n/a: tool not listed";
	const res = await call(c, "get-roots-list", {});
	if (res.isError) return `fail: ${text(res)}`;
	return text(res).includes(ROOT) ? "ok: the client's roots" : `fail: ${text(res).slice(0, 120)}`;
});

// Two clients, each with a sampling call in flight at once (their models
// take 300 ms), each answered by its own model.
out.concurrent = await outcome(async () => {
	if (!listed("trigger-sampling-request")) return "n/a: tool not listed";
	const b = await connect("matrix-b", 300);
	const d = await connect("matrix-d", 300);
	try {
		const [rb, rd] = await Promise.all([
			call(b.client, "trigger-sampling-request", { prompt: "hi" }),
			call(d.client, "trigger-sampling-request", { prompt: "hi" }),
		]);
		// Each answer is its caller's, refused (the proxy could not tell
		// whose it was), or another client's: the one that must not happen.
		const kind = (res, me, other) =>
			text(res).includes(`answer from ${me}`) ? "own" : text(res).includes(`answer from ${other}`) ? "other" : "refused";
		const kinds = [kind(rb, "matrix-b", "matrix-d"), kind(rd, "matrix-d", "matrix-b")];
		const own = kinds.filter((k) => k === "own").length;
		if (kinds.includes("other")) return "fail: answered by another client";
		if (own === 2) return "ok: 2/2 answered by their caller";
		return `refused: ${2 - own}/2 refused, none answered by another client`;
	} finally {
		await close(b);
		await close(d);
	}
});

await close(main);
console.log(JSON.stringify(out));
process.exit(0);
