package osqueryhost

import (
	"context"
	"sync/atomic"

	gen "github.com/osquery/osquery-go/gen/osquery"
)

// databaseCaller is the one call the scheduled-query lookup makes to
// osqueryd; *osquery.ExtensionManagerClient has it.
type databaseCaller interface {
	CallContext(ctx context.Context, registry, item string, req gen.ExtensionPluginRequest) (*gen.ExtensionResponse, error)
}

// scheduledQuery tells an evented table which scheduled query is running,
// the way osquery's own evented tables learn it
// (osquery/events/eventsubscriberplugin.cpp): osqueryd's scheduler stores
// the running query's name under "executing_query" in the "configurations"
// domain of its database before each scheduled query, and its start time
// under "timestamp.<name>", and clears the name afterwards. An extension's
// call to the "database" registry reaches the core's active database
// plugin. An empty name (osqueryi, a distributed query, or an osqueryd
// that does not answer) is an ad hoc query.
type scheduledQuery struct {
	c atomic.Pointer[databaseCaller]
}

func (s *scheduledQuery) set(c databaseCaller) { s.c.Store(&c) }

// lookup returns the running scheduled query and its run (its start time).
func (s *scheduledQuery) lookup(ctx context.Context) (name, execution string) {
	p := s.c.Load()
	if p == nil {
		return "", ""
	}
	get := func(key string) string {
		resp, err := (*p).CallContext(ctx, "database", "", gen.ExtensionPluginRequest{
			"action": "get", "domain": "configurations", "key": key,
		})
		if err != nil || resp == nil || resp.Status == nil || resp.Status.Code != 0 || len(resp.Response) == 0 {
			return ""
		}
		return resp.Response[0]["v"]
	}
	if name = get("executing_query"); name == "" {
		return "", ""
	}
	return name, get("timestamp." + name)
}
