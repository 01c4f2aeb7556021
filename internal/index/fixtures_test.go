package index

import (
	"encoding/json"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// param is one input-schema property for a fixture tool. Nested properties,
// when present, make it an array of objects.
type param struct {
	name, typ, desc string
	nested          []param
}

func p(name, typ, desc string) param { return param{name: name, typ: typ, desc: desc} }

func schemaJSON(params ...param) json.RawMessage {
	var props func(ps []param) map[string]any
	props = func(ps []param) map[string]any {
		m := map[string]any{}
		for _, p := range ps {
			v := map[string]any{"type": p.typ}
			if p.desc != "" {
				v["description"] = p.desc
			}
			if len(p.nested) > 0 {
				v["type"] = "array"
				v["items"] = map[string]any{"type": "object", "properties": props(p.nested)}
			}
			m[p.name] = v
		}
		return m
	}
	b, err := json.Marshal(map[string]any{"type": "object", "properties": props(params)})
	if err != nil {
		panic(err)
	}
	return b
}

func tool(name, desc string, params ...param) mcpproxy.Tool {
	return mcpproxy.Tool{Name: name, Description: desc, InputSchema: schemaJSON(params...)}
}

var (
	owner = p("owner", "string", "Repository owner (username or organization)")
	repo  = p("repo", "string", "Repository name")
)

// fixtureServers are tools as the public MCP servers describe them (the
// GitHub, filesystem, Slack, memory and "everything" reference servers, and
// the weather server of the MCP quickstart), lightly trimmed.
var fixtureServers = map[string][]mcpproxy.Tool{
	"github": {
		tool("create_or_update_file", "Create or update a single file in a GitHub repository",
			owner, repo, p("path", "string", "Path where to create/update the file"),
			p("content", "string", "Content of the file"), p("message", "string", "Commit message"),
			p("branch", "string", "Branch to create/update the file in"),
			p("sha", "string", "SHA of the file being replaced (required when updating existing files)")),
		tool("search_repositories", "Search for GitHub repositories",
			p("query", "string", "Search query (see GitHub search syntax)"),
			p("page", "number", "Page number for pagination (default: 1)"),
			p("perPage", "number", "Number of results per page (default: 30, max: 100)")),
		tool("create_repository", "Create a new GitHub repository in your account",
			p("name", "string", "Repository name"), p("description", "string", "Repository description"),
			p("private", "boolean", "Whether the repository should be private"),
			p("autoInit", "boolean", "Initialize with README.md")),
		tool("get_file_contents", "Get the contents of a file or directory from a GitHub repository",
			owner, repo, p("path", "string", "Path to the file or directory"),
			p("branch", "string", "Branch to get contents from")),
		tool("push_files", "Push multiple files to a GitHub repository in a single commit",
			owner, repo, p("branch", "string", "Branch to push to (e.g., 'main' or 'master')"),
			p("message", "string", "Commit message"),
			param{name: "files", desc: "Array of files to push", nested: []param{
				p("path", "string", ""), p("content", "string", "")}}),
		tool("create_issue", "Create a new issue in a GitHub repository",
			owner, repo, p("title", "string", ""), p("body", "string", ""),
			p("assignees", "array", ""), p("milestone", "number", ""), p("labels", "array", "")),
		tool("list_issues", "List issues in a GitHub repository with filtering options",
			owner, repo, p("state", "string", "Filter by state: open, closed or all"),
			p("labels", "array", "Filter by labels"), p("sort", "string", "Sort by created, updated or comments"),
			p("since", "string", "Only issues updated at or after this time"),
			p("page", "number", ""), p("per_page", "number", "")),
		tool("update_issue", "Update an existing issue in a GitHub repository",
			owner, repo, p("issue_number", "number", ""), p("title", "string", ""), p("body", "string", ""),
			p("state", "string", "open or closed"), p("labels", "array", ""), p("assignees", "array", "")),
		tool("get_issue", "Get details of a specific issue in a GitHub repository.",
			owner, repo, p("issue_number", "number", "")),
		tool("add_issue_comment", "Add a comment to an existing issue",
			owner, repo, p("issue_number", "number", ""), p("body", "string", "")),
		tool("search_issues", "Search for issues and pull requests across GitHub repositories",
			p("q", "string", "Search query using GitHub issues search syntax"),
			p("sort", "string", ""), p("order", "string", ""), p("per_page", "number", ""), p("page", "number", "")),
		tool("search_code", "Search for code across GitHub repositories",
			p("q", "string", "Search query using GitHub code search syntax"),
			p("order", "string", ""), p("per_page", "number", ""), p("page", "number", "")),
		tool("create_pull_request", "Create a new pull request in a GitHub repository",
			owner, repo, p("title", "string", "Pull request title"), p("body", "string", "Pull request body/description"),
			p("head", "string", "The name of the branch where your changes are implemented"),
			p("base", "string", "The name of the branch you want the changes pulled into"),
			p("draft", "boolean", "Whether to create the pull request as a draft"),
			p("maintainer_can_modify", "boolean", "Whether maintainers can modify the pull request")),
		tool("list_pull_requests", "List and filter repository pull requests",
			owner, repo, p("state", "string", "State of the pull requests to return"),
			p("head", "string", "Filter by head user or head organization and branch name"),
			p("base", "string", "Filter by base branch name"), p("sort", "string", "What to sort results by"),
			p("direction", "string", "The direction of the sort"), p("per_page", "number", "Results per page (max 100)")),
		tool("merge_pull_request", "Merge a pull request",
			owner, repo, p("pull_number", "number", "Pull request number"),
			p("commit_title", "string", "Title for the automatic commit message"),
			p("commit_message", "string", "Extra detail to append to automatic commit message"),
			p("merge_method", "string", "Merge method to use")),
		tool("create_branch", "Create a new branch in a GitHub repository",
			owner, repo, p("branch", "string", "Name for the new branch"),
			p("from_branch", "string", "Optional: source branch to create from (defaults to the repository's default branch)")),
		tool("list_commits", "Get list of commits of a branch in a GitHub repository",
			owner, repo, p("sha", "string", ""), p("page", "number", ""), p("perPage", "number", "")),
	},
	"filesystem": {
		tool("read_file", "Read the complete contents of a file from the file system. Handles various text encodings and provides detailed error messages if the file cannot be read. Use this tool when you need to examine the contents of a single file. Only works within allowed directories.",
			p("path", "string", ""),
			p("head", "number", "If provided, returns only the first N lines of the file"),
			p("tail", "number", "If provided, returns only the last N lines of the file")),
		tool("read_multiple_files", "Read the contents of multiple files simultaneously. This is more efficient than reading files one by one when you need to analyze or compare multiple files. Each file's content is returned with its path as a reference. Failed reads for individual files won't stop the entire operation. Only works within allowed directories.",
			p("paths", "array", "")),
		tool("write_file", "Create a new file or completely overwrite an existing file with new content. Use with caution as it will overwrite existing files without warning. Handles text content with proper encoding. Only works within allowed directories.",
			p("path", "string", ""), p("content", "string", "")),
		tool("edit_file", "Make line-based edits to a text file. Each edit replaces exact line sequences with new content. Returns a git-style diff showing the changes made. Only works within allowed directories.",
			p("path", "string", ""),
			param{name: "edits", nested: []param{
				p("oldText", "string", "Text to search for - must match exactly"),
				p("newText", "string", "Text to replace with")}},
			p("dryRun", "boolean", "Preview changes using git-style diff format")),
		tool("create_directory", "Create a new directory or ensure a directory exists. Can create multiple nested directories in one operation. If the directory already exists, this operation will succeed silently. Perfect for setting up directory structures for projects or ensuring required paths exist. Only works within allowed directories.",
			p("path", "string", "")),
		tool("list_directory", "Get a detailed listing of all files and directories in a specified path. Results clearly distinguish between files and directories with [FILE] and [DIR] prefixes. This tool is essential for understanding directory structure and finding specific files within a directory. Only works within allowed directories.",
			p("path", "string", "")),
		tool("directory_tree", "Get a recursive tree view of files and directories as a JSON structure. Each entry includes 'name', 'type' (file/directory), and 'children' for directories. Files have no children array, while directories always have a children array (which may be empty). The output is formatted with 2-space indentation for readability. Only works within allowed directories.",
			p("path", "string", "")),
		tool("move_file", "Move or rename files and directories. Can move files between directories and rename them in a single operation. If the destination exists, the operation will fail. Works across different directories and can be used for simple renaming within the same directory. Both source and destination must be within allowed directories.",
			p("source", "string", ""), p("destination", "string", "")),
		tool("search_files", "Recursively search for files and directories matching a pattern. Searches through all subdirectories from the starting path. The search is case-insensitive and matches partial names. Returns full paths to all matching items. Great for finding files when you don't know their exact location. Only searches within allowed directories.",
			p("path", "string", ""), p("pattern", "string", ""), p("excludePatterns", "array", "")),
		tool("get_file_info", "Retrieve detailed metadata about a file or directory. Returns comprehensive information including size, creation time, last modified time, permissions, and type. This tool is perfect for understanding file characteristics without reading the actual content. Only works within allowed directories.",
			p("path", "string", "")),
		tool("list_allowed_directories", "Returns the list of directories that this server is allowed to access. Use this to understand which directories are available before trying to access files."),
	},
	"slack": {
		tool("list_channels", "List public channels in the workspace with pagination",
			p("limit", "number", "Maximum number of channels to return (default 100, max 200)"),
			p("cursor", "string", "Pagination cursor for next page of results")),
		tool("send_message", "Send a message to a Slack channel or a direct message to a user",
			p("channel_id", "string", "The ID of the channel to post to"),
			p("text", "string", "The message text to send")),
		tool("reply_to_thread", "Reply to a specific message thread in Slack",
			p("channel_id", "string", "The ID of the channel containing the thread"),
			p("thread_ts", "string", "The timestamp of the parent message in the format '1234567890.123456'"),
			p("text", "string", "The reply text")),
		tool("add_reaction", "Add a reaction emoji to a message",
			p("channel_id", "string", "The ID of the channel containing the message"),
			p("timestamp", "string", "The timestamp of the message to react to"),
			p("reaction", "string", "The name of the emoji reaction (without ::)")),
		tool("get_channel_history", "Get recent messages from a channel",
			p("channel_id", "string", "The ID of the channel"),
			p("limit", "number", "Number of messages to retrieve (default 10)")),
		tool("get_users", "Get a list of all users in the workspace with their basic profile information",
			p("cursor", "string", "Pagination cursor for next page of results"),
			p("limit", "number", "Maximum number of users to return (default 100, max 200)")),
	},
	"weather": {
		tool("get_alerts", "Get weather alerts for a US state.",
			p("state", "string", "Two-letter US state code (e.g. CA, NY)")),
		tool("get_forecast", "Get weather forecast for a location.",
			p("latitude", "number", "Latitude of the location"),
			p("longitude", "number", "Longitude of the location")),
	},
	"memory": {
		tool("create_entities", "Create multiple new entities in the knowledge graph",
			param{name: "entities", nested: []param{
				p("name", "string", "The name of the entity"),
				p("entityType", "string", "The type of the entity"),
				p("observations", "array", "An array of observation contents associated with the entity")}}),
		tool("create_relations", "Create multiple new relations between entities in the knowledge graph. Relations should be in active voice",
			param{name: "relations", nested: []param{
				p("from", "string", "The name of the entity where the relation starts"),
				p("to", "string", "The name of the entity where the relation ends"),
				p("relationType", "string", "The type of the relation")}}),
		tool("add_observations", "Add new observations to existing entities in the knowledge graph",
			param{name: "observations", nested: []param{
				p("entityName", "string", "The name of the entity to add the observations to"),
				p("contents", "array", "An array of observation contents to add")}}),
		tool("delete_entities", "Delete multiple entities and their associated relations from the knowledge graph",
			p("entityNames", "array", "An array of entity names to delete")),
		tool("read_graph", "Read the entire knowledge graph"),
		tool("search_nodes", "Search for nodes in the knowledge graph based on a query",
			p("query", "string", "The search query to match against entity names, types, and observation content")),
		tool("open_nodes", "Open specific nodes in the knowledge graph by their names",
			p("names", "array", "An array of entity names to retrieve")),
	},
	"everything": {
		tool("echo", "Echoes back the input", p("message", "string", "Message to echo")),
		tool("add", "Adds two numbers", p("a", "number", "First number"), p("b", "number", "Second number")),
		tool("longRunningOperation", "Demonstrates a long running operation with progress updates",
			p("duration", "number", "Duration of the operation in seconds"),
			p("steps", "number", "Number of steps in the operation")),
		tool("printEnv", "Prints all environment variables, helpful for debugging MCP server configuration"),
		tool("sampleLLM", "Samples from an LLM using MCP's sampling feature",
			p("prompt", "string", "The prompt to send to the LLM"),
			p("maxTokens", "number", "Maximum number of tokens to generate")),
		tool("getTinyImage", "Returns the MCP_TINY_IMAGE"),
		tool("annotatedMessage", "Demonstrates how annotations can be used to provide metadata about content",
			p("messageType", "string", "Type of message to demonstrate different annotation patterns"),
			p("includeImage", "boolean", "Whether to include an example image")),
		tool("getResourceReference", "Returns a resource reference that can be used by MCP clients",
			p("resourceId", "number", "ID of the resource to reference (1-100)")),
	},
}
