package client

// ActivityFilter selects activity records; empty fields match everything.
type ActivityFilter struct {
	Server, Tool, Status, Kind string
	// Since is an RFC 3339 time or a duration back from now ("1h").
	Since  string
	Limit  int
	Cursor string
	// Sensitive keeps only records in which sensitive data was found.
	Sensitive bool
}
