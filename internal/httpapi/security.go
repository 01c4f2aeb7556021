package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/mcpproxy/mcpproxy/internal/apiv1"
	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	"github.com/mcpproxy/mcpproxy/internal/pinning"
)

// Approver takes a person's quarantine and tool-approval decisions (the
// supervisor implements it). These endpoints are the only way to approve:
// no MCP tool reaches them.
type Approver interface {
	Quarantine(ctx context.Context, name string) error
	// Unquarantine approves the server's spec with the given fingerprint.
	Unquarantine(ctx context.Context, name, fingerprint string) error
	// ApproveTools approves each named tool definition by fingerprint.
	ApproveTools(name string, tools []mcpproxy.ToolRef) ([]string, error)
	BlockTools(name string, tools []string, all bool) ([]string, error)
	ApprovedTool(server, tool string) (pinning.Pin, bool)
	// ReviewServer returns what a person approving spec should read.
	ReviewServer(spec *mcpproxy.ServerSpec) mcpproxy.ServerReview
}

func (a *API) securityRoutes(m *http.ServeMux) {
	m.Handle("POST /api/v1/servers/{name}/quarantine", a.auth(a.quarantine(true)))
	m.Handle("POST /api/v1/servers/{name}/unquarantine", a.auth(a.quarantine(false)))
	m.Handle("POST /api/v1/servers/{name}/tools/approve", a.auth(a.decideTools(true)))
	m.Handle("POST /api/v1/servers/{name}/tools/block", a.auth(a.decideTools(false)))
	m.Handle("GET /api/v1/quarantine", a.auth(a.quarantineList))
}

func (a *API) approver() (Approver, error) {
	if a.opts.Approvals == nil {
		return nil, mcpproxy.Errorf(mcpproxy.EUNAVAILABLE, "approvals are not available in this mode")
	}
	return a.opts.Approvals, nil
}

func (a *API) quarantine(on bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ap, err := a.approver()
		if err != nil {
			return err
		}
		name := r.PathValue("name")
		if on {
			err = ap.Quarantine(r.Context(), name)
		} else {
			var body apiv1.Unquarantine
			if err := decodeBody(w, r, &body); err != nil {
				if mcpproxy.ErrorMessage(err) == emptyBody {
					return mcpproxy.Errorf(mcpproxy.EINVALID, "body.fingerprint: required: approve the spec you reviewed (GET /api/v1/servers/%s gives its fingerprint)", name)
				}
				return err
			}
			err = ap.Unquarantine(r.Context(), name, body.Fingerprint)
		}
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, apiv1.Quarantined{Server: name, Quarantined: on})
		return nil
	}
}

const emptyBody = "body: empty, want a JSON object"

// decodeBody reads a small JSON body strictly: unknown fields and trailing
// data are errors that name what is wrong.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return mcpproxy.Errorf(mcpproxy.EINVALID, emptyBody)
		case errors.As(err, &mbe):
			return mcpproxy.Errorf(mcpproxy.ETOOLARGE, "body: larger than %d bytes", mbe.Limit)
		case errors.As(err, &te) && te.Field != "":
			return mcpproxy.Errorf(mcpproxy.EINVALID, "body.%s: want %s, got %s", te.Field, te.Type, te.Value)
		}
		return mcpproxy.Errorf(mcpproxy.EINVALID, "body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return mcpproxy.Errorf(mcpproxy.EINVALID, "body: unexpected data after the JSON object")
	}
	return nil
}

func (a *API) decideTools(approve bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ap, err := a.approver()
		if err != nil {
			return err
		}
		name := r.PathValue("name")
		var done []string
		if approve {
			var body apiv1.ApproveTools
			if err := decodeBody(w, r, &body); err != nil {
				if mcpproxy.ErrorCode(err) == mcpproxy.EINVALID && strings.HasPrefix(mcpproxy.ErrorMessage(err), "body.tools") {
					return mcpproxy.Errorf(mcpproxy.EINVALID, "body.tools: want [{\"name\": …, \"fingerprint\": …}]: approval names the definition you reviewed (GET /api/v1/servers/%s/tools)", name)
				}
				return err
			}
			done, err = ap.ApproveTools(name, body.Tools)
		} else {
			var body apiv1.BlockTools
			if err := decodeBody(w, r, &body); err != nil {
				return err
			}
			done, err = ap.BlockTools(name, body.Tools, body.All)
		}
		if err != nil {
			return err
		}
		if approve {
			writeOK(w, http.StatusOK, apiv1.ToolsApproved{Server: name, Approved: done})
		} else {
			writeOK(w, http.StatusOK, apiv1.ToolsBlocked{Server: name, Blocked: done})
		}
		return nil
	}
}

func (a *API) pinLookup() pinning.PinLookup {
	if a.opts.Approvals == nil {
		return nil
	}
	return a.opts.Approvals.ApprovedTool
}

func (a *API) quarantineList(w http.ResponseWriter, r *http.Request) error {
	list := pinning.WaitingList(a.b.View().Load(), a.pinLookup(), "")
	if a.opts.Approvals != nil {
		cfg := a.b.Config()
		for i := range list {
			if spec, ok := cfg.Server(list[i].Server); ok && list[i].Quarantined {
				rv := a.opts.Approvals.ReviewServer(spec)
				list[i].Review = &rv
			}
		}
	}
	writeOK(w, http.StatusOK, list)
	return nil
}
