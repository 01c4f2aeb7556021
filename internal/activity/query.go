package activity

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

// Limits of Filter.Limit.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Filter selects records for List. Empty fields match everything.
type Filter struct {
	Server, Tool, Status, Kind string
	// Sensitive keeps only records in which sensitive data was found.
	Sensitive bool
	// Since keeps records at or after this time.
	Since time.Time
	// Limit is the page size: default DefaultLimit, at most MaxLimit.
	Limit int
	// Cursor continues a listing: only records strictly older than the
	// record with this ID (a previous Page.NextCursor) are returned.
	Cursor string
}

// Page is one page of records, newest first; NextCursor continues it as
// Filter.Cursor.
type Page = apiv1.ActivityPage

func (f *Filter) match(r *Record) bool {
	return (f.Server == "" || r.Server == f.Server) &&
		(f.Tool == "" || r.Tool == f.Tool) &&
		(f.Status == "" || r.Status == f.Status) &&
		(f.Kind == "" || r.Kind == f.Kind) &&
		(!f.Sensitive || r.Sensitive != nil) &&
		!r.Time.Before(f.Since)
}

// List returns committed records matching f, newest first. It walks from
// the newest record (or the cursor) down, stopping at Limit matches or at
// Since. An invalid cursor is an EINVALID error.
func (l *Log) List(f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	f.Limit = min(f.Limit, MaxLimit)
	if f.Cursor != "" && !validID(f.Cursor) {
		return Page{}, mcpproxy.Errorf(mcpproxy.EINVALID, "cursor: %q is not an activity record id", f.Cursor)
	}
	var lower string
	if !f.Since.IsZero() {
		lower = newID(f.Since, 0)
	}
	page := Page{Records: []Record{}}
	var from []byte // the newest record strictly older than the cursor
	if f.Cursor != "" {
		from = []byte(f.Cursor)
	}
	err := l.db.View(func(tx mcpproxy.StoreTx) error {
		tx.Scan(bucket, from, true, func(k, v []byte) bool {
			if string(k) < lower {
				return false
			}
			if len(page.Records) == f.Limit {
				page.NextCursor = page.Records[f.Limit-1].ID
				return false
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				l.opts.Logger.Warn("activity: skipping unreadable record", "id", string(k), "error", err)
				return true
			}
			r.ID = string(k) // the key is the record's identity
			if f.match(&r) {
				page.Records = append(page.Records, r)
			}
			return true
		})
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("activity: list: %w", err)
	}
	return page, nil
}

// Get returns the committed record with id, or an ENOTFOUND error.
func (l *Log) Get(id string) (Record, error) {
	var r Record
	found := false
	err := l.db.View(func(tx mcpproxy.StoreTx) error {
		v := tx.Get(bucket, []byte(id))
		if v == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		r.ID = id
		return nil
	})
	if err != nil {
		return Record{}, fmt.Errorf("activity: get %s: %w", id, err)
	}
	if !found {
		return Record{}, mcpproxy.Errorf(mcpproxy.ENOTFOUND, "activity record %q not found", id)
	}
	return r, nil
}
