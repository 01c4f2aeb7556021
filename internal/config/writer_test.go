package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

func TestWriter_Edit(t *testing.T) {
	t.Run("AddServer", func(t *testing.T) {
		path := writeTemp(t, t.TempDir(), "c.json", mapFile)
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		var written [][]byte
		w := newTestWriter(t, path, WithOnWrite(func(data []byte) { written = append(written, data) }))
		cfg, err := w.Edit(context.Background(), func(d *Document) error {
			return d.AddServer(mcpproxy.ServerSpec{Name: "new", URL: "https://h", Enabled: true})
		})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ServersAsMap || len(cfg.Servers) != 3 || cfg.Servers[2].Name != "new" {
			t.Errorf("returned config %+v", cfg)
		}
		data := readFile(t, path)
		if onDisk := mustParse(t, string(data)); !reflect.DeepEqual(onDisk, cfg) {
			t.Errorf("file %+v, returned %+v", onDisk, cfg)
		}
		if len(written) != 1 || string(written[0]) != string(data) {
			t.Errorf("OnWrite got %q, file has %q", written, data)
		}
		if perm := fileMode(t, path); perm != 0o640 {
			t.Errorf("mode = %o, want 640 kept", perm)
		}
	})
	t.Run("InvalidResultLeavesFile", func(t *testing.T) {
		path := writeTemp(t, t.TempDir(), "c.json", userFile)
		w := newTestWriter(t, path)
		_, err := w.Edit(context.Background(), func(d *Document) error {
			return d.AddServer(mcpproxy.ServerSpec{Name: "bad name", Command: "c", Enabled: true})
		})
		want := `mcpServers[2].name: invalid name "bad name": use 1-64 of A-Z a-z 0-9 _ . -`
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
		if mcpproxy.ErrorCode(err) != mcpproxy.EINVALID {
			t.Errorf("code = %q", mcpproxy.ErrorCode(err))
		}
		if got := string(readFile(t, path)); got != userFile {
			t.Errorf("file changed:\n%s", got)
		}
	})
	t.Run("FnErrorLeavesFile", func(t *testing.T) {
		path := writeTemp(t, t.TempDir(), "c.json", mapFile)
		w := newTestWriter(t, path)
		boom := errors.New("boom")
		_, err := w.Edit(context.Background(), func(d *Document) error {
			if err := d.RemoveServer("github"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("err = %v", err)
		}
		if got := string(readFile(t, path)); got != mapFile {
			t.Errorf("file changed:\n%s", got)
		}
	})
	t.Run("NoChangeNoWrite", func(t *testing.T) {
		// Not in our formatting, so any rewrite would show.
		const in = "{\"mcpServers\":{\"a\":{\"command\":\"c\"}},\n\t\"x_note\":1}"
		path := writeTemp(t, t.TempDir(), "c.json", in)
		wrote := false
		w := newTestWriter(t, path, WithOnWrite(func([]byte) { wrote = true }))
		cfg, err := w.Edit(context.Background(), func(d *Document) error {
			return d.SetServerField("a", "enabled", true)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Servers) != 1 || !cfg.ServersAsMap {
			t.Errorf("config %+v", cfg)
		}
		if got := string(readFile(t, path)); got != in || wrote {
			t.Errorf("file rewritten (%v):\n%s", wrote, got)
		}
	})
	t.Run("MissingFile", func(t *testing.T) {
		w := newTestWriter(t, filepath.Join(t.TempDir(), "none.json"))
		_, err := w.Edit(context.Background(), func(*Document) error { return nil })
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		path := writeTemp(t, t.TempDir(), "c.json", mapFile)
		w := newTestWriter(t, path)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		called := false
		_, err := w.Edit(ctx, func(*Document) error { called = true; return nil })
		if !errors.Is(err, context.Canceled) || called {
			t.Errorf("err = %v, called = %v", err, called)
		}
	})
	t.Run("AfterClose", func(t *testing.T) {
		path := writeTemp(t, t.TempDir(), "c.json", mapFile)
		w := NewWriter(path)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil { // idempotent
			t.Fatal(err)
		}
		_, err := w.Edit(context.Background(), func(*Document) error { return nil })
		if mcpproxy.ErrorCode(err) != mcpproxy.EUNAVAILABLE {
			t.Errorf("err = %v, want unavailable", err)
		}
	})
}

func TestWriter_Concurrent(t *testing.T) {
	path := writeTemp(t, t.TempDir(), "c.json", userFile)
	w := newTestWriter(t, path)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := w.Edit(context.Background(), func(d *Document) error {
				return d.AddServer(mcpproxy.ServerSpec{Name: fmt.Sprintf("s%02d", i), Command: "c", Enabled: true})
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	cfg := mustParse(t, string(readFile(t, path)))
	if len(cfg.Servers) != n+2 {
		t.Fatalf("%d servers, want %d", len(cfg.Servers), n+2)
	}
	for i := range n {
		if _, ok := cfg.Server(fmt.Sprintf("s%02d", i)); !ok {
			t.Errorf("s%02d missing", i)
		}
	}
	if _, ok := cfg.Server("remote"); !ok {
		t.Error("original server lost")
	}
	assertNoTempFiles(t, filepath.Dir(path), "c.json")
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	for i, content := range []string{"one\n", "two\n"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if got := string(readFile(t, path)); got != content {
			t.Errorf("content %q, want %q", got, content)
		}
	}
	if perm := fileMode(t, path); perm != 0o600 {
		t.Errorf("mode %o", perm)
	}
	assertNoTempFiles(t, dir, "f.json")

	t.Run("Symlink", func(t *testing.T) {
		dir := t.TempDir()
		target := writeTemp(t, dir, "real.json", "old")
		link := filepath.Join(dir, "link.json")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := WriteFileAtomic(link, []byte("new"), 0o600); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("link replaced by a file: %v", err)
		}
		if got := string(readFile(t, target)); got != "new" {
			t.Errorf("target = %q", got)
		}
		assertNoTempFiles(t, dir, "real.json", "link.json")
	})
	t.Run("MissingDir", func(t *testing.T) {
		if err := WriteFileAtomic(filepath.Join(dir, "no", "f"), nil, 0o600); err == nil {
			t.Error("no error")
		}
	})
}

func TestCreateDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home", ".mcpproxy")
	path := filepath.Join(dir, "mcp_config.json")
	created, err := CreateDefault(path, "secret")
	if err != nil || !created {
		t.Fatalf("CreateDefault = %v, %v", created, err)
	}
	want := `{
  "listen": "127.0.0.1:8080",
  "api_key": "secret",
  "tools_limit": 15,
  "tool_response_limit": 20000,
  "call_tool_timeout": "2m",
  "connect_timeout": "30s",
  "mcpServers": []
}
`
	if got := string(readFile(t, path)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	cfg, warnings, err := Load(path)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Load: %v %q", err, warnings)
	}
	wantCfg := Default()
	wantCfg.APIKey = "secret"
	wantCfg.Servers = []mcpproxy.ServerSpec{}
	if !reflect.DeepEqual(cfg, wantCfg) {
		t.Errorf("config %+v, want %+v", cfg, wantCfg)
	}
	if perm := fileMode(t, path); perm != 0o600 {
		t.Errorf("file mode %o, want 600", perm)
	}
	if perm := fileMode(t, dir); perm != 0o700 {
		t.Errorf("dir mode %o, want 700", perm)
	}
	assertNoTempFiles(t, dir, "mcp_config.json")

	created, err = CreateDefault(path, "other")
	if err != nil || created {
		t.Errorf("second CreateDefault = %v, %v", created, err)
	}
	if got := string(readFile(t, path)); got != want {
		t.Errorf("existing file changed:\n%s", got)
	}

	t.Run("NoAPIKey", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.json")
		if _, err := CreateDefault(path, ""); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := Load(path)
		if err != nil || cfg.APIKey != "" {
			t.Errorf("cfg %+v, err %v", cfg, err)
		}
	})
}

func newTestWriter(tb testing.TB, path string, opts ...WriterOption) *Writer {
	tb.Helper()
	w := NewWriter(path, opts...)
	tb.Cleanup(func() { w.Close() })
	return w
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func fileMode(tb testing.TB, path string) os.FileMode {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode().Perm()
}

// assertNoTempFiles checks that dir holds exactly the named entries.
func assertNoTempFiles(tb testing.TB, dir string, names ...string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) { // ReadDir sorts by name
		tb.Errorf("dir holds %q, want only %q", got, want)
	}
}
