package osqueryhost

import (
	"context"
	"errors"
	"testing"

	gen "github.com/osquery/osquery-go/gen/osquery"
)

// fakeDB answers "database" get calls from a map, as osqueryd's database
// plugin does; missing keys answer an error status.
type fakeDB struct {
	kv    map[string]string
	err   error
	calls []gen.ExtensionPluginRequest
}

func (f *fakeDB) CallContext(_ context.Context, registry, item string, req gen.ExtensionPluginRequest) (*gen.ExtensionResponse, error) {
	f.calls = append(f.calls, req)
	if f.err != nil {
		return nil, f.err
	}
	if registry != "database" || req["action"] != "get" || req["domain"] != "configurations" {
		return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: 1, Message: "bad request"}}, nil
	}
	v, ok := f.kv[req["key"]]
	if !ok {
		return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: 1, Message: "not found"}}, nil
	}
	return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: 0}, Response: gen.ExtensionPluginResponse{{"v": v}}}, nil
}

func TestScheduledQueryLookup(t *testing.T) {
	var s scheduledQuery
	if n, e := s.lookup(t.Context()); n != "" || e != "" {
		t.Errorf("no client: %q %q", n, e)
	}
	db := &fakeDB{kv: map[string]string{"executing_query": "pack_modhunt_loads", "timestamp.pack_modhunt_loads": "1800000000"}}
	s.set(db)
	if n, e := s.lookup(t.Context()); n != "pack_modhunt_loads" || e != "1800000000" {
		t.Errorf("scheduled: %q %q", n, e)
	}
	db.kv["executing_query"] = "" // cleared after the run: ad hoc
	if n, e := s.lookup(t.Context()); n != "" || e != "" {
		t.Errorf("cleared: %q %q", n, e)
	}
	db.err = errors.New("broken pipe")
	if n, e := s.lookup(t.Context()); n != "" || e != "" {
		t.Errorf("osqueryd gone: %q %q", n, e)
	}
}
