package config

import (
	"os"
	"path/filepath"
	"strings"
)

// Overrides are settings that take precedence over the file and are never
// written to it: the environment's, then the command line's.
type Overrides struct {
	Listen, APIKey, DataDir string
	// Home is the data directory when neither the file nor an override
	// names one.
	Home string
}

// EnvOverrides reads MCPPROXY_LISTEN, MCPPROXY_API_KEY and MCPPROXY_DATA_DIR
// with getenv; home is Overrides.Home.
func EnvOverrides(getenv func(string) string, home string) Overrides {
	return Overrides{
		Listen:  getenv("MCPPROXY_LISTEN"),
		APIKey:  getenv("MCPPROXY_API_KEY"),
		DataDir: getenv("MCPPROXY_DATA_DIR"),
		Home:    home,
	}
}

// Apply sets c's listen address, API key and data directory from the
// overrides that are not empty, defaults the data directory to Home and
// expands a leading "~/" in it.
func (o Overrides) Apply(c *Config) {
	if o.Listen != "" {
		c.Listen = o.Listen
	}
	if o.APIKey != "" {
		c.APIKey = o.APIKey
	}
	if o.DataDir != "" {
		c.DataDir = o.DataDir
	}
	if c.DataDir == "" {
		c.DataDir = o.Home
	}
	if strings.HasPrefix(c.DataDir, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			c.DataDir = filepath.Join(home, c.DataDir[2:])
		}
	}
}
