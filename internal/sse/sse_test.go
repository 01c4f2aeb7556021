package sse

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReader_Line(t *testing.T) {
	long := strings.Repeat("x", 100)
	in := "short\r\n" + long + "\n\n" + "cut off"
	r := NewReader(iotest.HalfReader(strings.NewReader(in)), 16)
	for _, want := range []struct {
		line  string
		owned bool
		err   error
	}{{"short", false, nil}, {long, true, nil}, {"", false, nil}, {"cut off", false, io.EOF}} {
		line, owned, err := r.Line(1000)
		if string(line) != want.line || owned != want.owned || err != want.err {
			t.Fatalf("Line = %q, %v, %v; want %q, %v, %v", line, owned, err, want.line, want.owned, want.err)
		}
		if owned && cap(line) != len(line) {
			t.Errorf("a long line of %d bytes in a slice of %d", len(line), cap(line))
		}
	}
	r = NewReader(strings.NewReader(long+"\n"), 16)
	if _, _, err := r.Line(99); !errors.Is(err, ErrTooLong) {
		t.Errorf("a line over the limit: %v", err)
	}
	r = NewReader(strings.NewReader(long+"\n"), 16)
	if line, _, err := r.Line(100); err != nil || len(line) != 100 {
		t.Errorf("a line at the limit: %d bytes, %v", len(line), err)
	}
}

func TestReader_Event(t *testing.T) {
	in := ": comment\n\n" +
		"id: 1\ndata:\n\n" + // a priming event: empty data
		"event: message\ndata: {\"a\":1}\n\n" +
		"event: other\ndata: skipped\n\n" +
		"data: two\r\ndata:  lines\r\n\r\n" +
		"data:" + strings.Repeat("y", 40_000) + "\n\n" +
		"data: cut off"
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), 4096)
	var got []string
	for {
		d, err := r.Event(1 << 20)
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("last error %v, want unexpected EOF", err)
			}
			break
		}
		got = append(got, string(d))
	}
	want := []string{"", `{"a":1}`, "two\n lines", strings.Repeat("y", 40_000)}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q", got, want)
	}
	r = NewReader(strings.NewReader("data: 12345\ndata: 678\n\n"), 4096)
	if _, err := r.Event(8); !errors.Is(err, ErrTooLong) {
		t.Errorf("an event over the limit: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("event: message\ndata: {}\n\n", 7)
	f.Add("a\r\nb\n"+strings.Repeat("c", 50), 16)
	f.Fuzz(func(t *testing.T, in string, size int) {
		size = 16 + max(size, 0)%64
		r := NewReader(strings.NewReader(in), size)
		var lines []string
		for {
			line, _, err := r.Line(int64(len(in)))
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if err == nil || len(line) > 0 {
				lines = append(lines, string(line))
			}
			if err != nil {
				break
			}
		}
		want := strings.Split(in, "\n")
		for i := range want {
			want[i] = strings.TrimSuffix(want[i], "\r")
		}
		if want[len(want)-1] == "" { // a partial line is seen only if not empty
			want = want[:len(want)-1]
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") || len(lines) != len(want) {
			t.Errorf("lines %q, want %q", lines, want)
		}
		r = NewReader(strings.NewReader(in), size)
		for {
			if _, err := r.Event(int64(len(in))); err != nil {
				break
			}
		}
	})
}

// A spooled line comes back whole, in a slice of its own, and costs about
// its size in memory where gathering it in memory costs twice that.
func TestReader_Spool(t *testing.T) {
	const size = 8 << 20
	var sb strings.Builder
	for i := 0; sb.Len() < size; i++ {
		fmt.Fprintf(&sb, "%08d,", i)
	}
	long := sb.String()
	read := func(spool string) (line []byte, allocated uint64) {
		r := NewReader(strings.NewReader("short\n"+long+"\nafter\n"), 4096)
		if spool != "" {
			r.Spool(spool, 1<<20)
		}
		if l, _, err := r.Line(1 << 30); string(l) != "short" || err != nil {
			t.Fatalf("first line %q, %v", l, err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		line, owned, err := r.Line(1 << 30)
		runtime.ReadMemStats(&ms)
		if err != nil || !owned || cap(line) != len(line) {
			t.Fatalf("long line: owned %v, len %d cap %d, %v", owned, len(line), cap(line), err)
		}
		if string(line) != long {
			t.Fatalf("long line differs: %d bytes, want %d", len(line), len(long))
		}
		if l, _, err := r.Line(1 << 30); string(l) != "after" || err != nil {
			t.Fatalf("line after %q, %v", l, err)
		}
		return line, ms.TotalAlloc - before
	}
	dir := t.TempDir()
	_, spooled := read(dir)
	_, inMemory := read("")
	t.Logf("a line of %d bytes: %d bytes allocated spooled, %d in memory", len(long), spooled, inMemory)
	if spooled > uint64(len(long))*3/2 || inMemory < uint64(len(long))*19/10 {
		t.Errorf("allocated %d bytes spooled and %d in memory for a line of %d", spooled, inMemory, len(long))
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("spool files left behind: %v", left)
	}

	// A spool directory that does not exist, and a file that takes no
	// writes (the disk is full): the line is gathered in memory instead.
	read(filepath.Join(dir, "missing"))
	readOnly := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(readOnly, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(c func(string) (*os.File, error)) { createSpool = c }(createSpool)
	opened := 0
	createSpool = func(string) (*os.File, error) { opened++; return os.Open(readOnly) }
	read(dir)
	if opened != 1 {
		t.Errorf("spool files opened: %d, want 1", opened)
	}
}

// ReadAll returns the whole stream in a slice of its size, spooled or not.
func TestReadAll(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 10, 40 << 10, 3 << 20} {
		in := strings.Repeat("0123456789abcdef", size/16)
		for _, spool := range []string{"", dir} {
			got, err := ReadAll(iotest.HalfReader(strings.NewReader(in)), spool, 1<<20)
			if err != nil || string(got) != in || cap(got) != len(got) {
				t.Errorf("%d bytes, spool %q: %d bytes (cap %d), equal %v, %v", len(in), spool, len(got), cap(got), string(got) == in, err)
			}
		}
	}
	if _, err := ReadAll(iotest.ErrReader(errors.New("boom")), dir, 1<<20); err == nil || err.Error() != "boom" {
		t.Errorf("a failing reader: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("spool files left behind: %v", left)
	}
}
