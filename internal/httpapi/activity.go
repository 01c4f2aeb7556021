package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy/internal/activity"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
)

var (
	activityKinds    = []string{activity.KindToolCall, activity.KindManagement}
	activityStatuses = []string{activity.StatusOK, activity.StatusToolError, activity.StatusError,
		activity.StatusBlocked, activity.StatusTimeout, activity.StatusCancelled}
)

func (a *API) activityLog() (*activity.Log, error) {
	if a.opts.Activity == nil {
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "the activity log is not available")
	}
	return a.opts.Activity, nil
}

// activityList serves GET /api/v1/activity: records newest first, filtered
// by server, tool, status, kind, since and sensitive (1: only records in
// which sensitive data was found), paged by limit and cursor.
func (a *API) activityList(w http.ResponseWriter, r *http.Request) error {
	alog, err := a.activityLog()
	if err != nil {
		return err
	}
	f, err := activityFilter(r, time.Now())
	if err != nil {
		return err
	}
	page, err := alog.List(f)
	if err != nil {
		return err
	}
	writeOK(w, http.StatusOK, page)
	return nil
}

// activityGet serves GET /api/v1/activity/{id}.
func (a *API) activityGet(w http.ResponseWriter, r *http.Request) error {
	alog, err := a.activityLog()
	if err != nil {
		return err
	}
	rec, err := alog.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeOK(w, http.StatusOK, rec)
	return nil
}

// activityFilter reads the query parameters of GET /api/v1/activity.
func activityFilter(r *http.Request, now time.Time) (activity.Filter, error) {
	q := r.URL.Query()
	f := activity.Filter{
		Server: q.Get("server"),
		Tool:   q.Get("tool"),
		Status: q.Get("status"),
		Kind:   q.Get("kind"),
		Cursor: q.Get("cursor"),
	}
	if f.Status != "" && !slices.Contains(activityStatuses, f.Status) {
		return f, mcpproxy.Errorf(mcpproxy.EINVALID, "status: want one of %s, got %q", strings.Join(activityStatuses, ", "), f.Status)
	}
	if f.Kind != "" && !slices.Contains(activityKinds, f.Kind) {
		return f, mcpproxy.Errorf(mcpproxy.EINVALID, "kind: want one of %s, got %q", strings.Join(activityKinds, ", "), f.Kind)
	}
	switch s := q.Get("sensitive"); s {
	case "", "0", "false":
	case "1", "true":
		f.Sensitive = true
	default:
		return f, mcpproxy.Errorf(mcpproxy.EINVALID, "sensitive: want 1 or 0, got %q", s)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > activity.MaxLimit {
			return f, mcpproxy.Errorf(mcpproxy.EINVALID, "limit: want an integer from 1 to %d, got %q", activity.MaxLimit, s)
		}
		f.Limit = n
	}
	if s := q.Get("since"); s != "" {
		t, err := parseSince(s, now)
		if err != nil {
			return f, err
		}
		f.Since = t
	}
	return f, nil
}

// parseSince accepts an RFC 3339 time or a positive Go duration meaning
// that long before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	// An unescaped "+01:00" offset arrives with a space for the plus.
	if t, err := time.Parse(time.RFC3339, strings.ReplaceAll(s, " ", "+")); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, mcpproxy.Errorf(mcpproxy.EINVALID,
		"since: want an RFC 3339 time (2025-01-02T15:04:05Z) or a duration like 1h or 30m, got %q", s)
}
