// Package osqueryd is a test double of osqueryd's extension manager: the
// Thrift service an osquery extension registers with, on the unix socket
// osqueryd would listen on, built on osquery-go's generated code. As a
// client it calls an extension the way osqueryd does (one connection per
// call, to "<socket>.<uuid>"), and it can vanish the way a dying osqueryd
// does, so an extension's whole life can be tested without osquery.
//
// Behaviour follows osquery's C++ (osquery/extensions/interface.cpp,
// impl_thrift.cpp, extensions.cpp; osquery/sql/virtual_table.cpp;
// osquery/core/tables.cpp) at 5.23.1.
package osqueryd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	gen "github.com/osquery/osquery-go/gen/osquery"
)

// Extension is one registration the manager accepted.
type Extension struct {
	UUID     int64
	Name     string
	Version  string
	Registry gen.ExtensionRegistry
}

// Column is one column of a registered table, as its route declared it.
type Column struct {
	Name string
	Type string // osquery's type name: TEXT, INTEGER, BIGINT, ...
	Op   int    // column options bitmask (osquery/core/sql/column.h)
}

// Column option bits (osquery/core/sql/column.h ColumnOptions).
const (
	OptIndex      = 1
	OptRequired   = 2
	OptAdditional = 4
	OptOptimized  = 8
	OptHidden     = 16
)

// Columns returns the columns a registered table declared in its routes, in
// declaration order (osqueryd builds the CREATE TABLE from them).
func (e Extension) Columns(tbl string) ([]Column, error) {
	routes, ok := e.Registry["table"][tbl]
	if !ok {
		return nil, fmt.Errorf("extension %s registered no table %s", e.Name, tbl)
	}
	return columnsFromRoutes(routes)
}

// columnsFromRoutes reads route maps as osqueryd's xCreate does: entries
// with id "column" carry name, type and op.
func columnsFromRoutes(routes gen.ExtensionPluginResponse) ([]Column, error) {
	var cols []Column
	for _, r := range routes {
		if r["id"] != "column" {
			continue
		}
		op, err := strconv.Atoi(r["op"])
		if err != nil {
			return nil, fmt.Errorf("column %s: op %q: %w", r["name"], r["op"], err)
		}
		cols = append(cols, Column{Name: r["name"], Type: r["type"], Op: op})
	}
	return cols, nil
}

// Manager is the double. Its zero value is not usable; call Listen.
type Manager struct {
	path     string
	ln       net.Listener
	callTime time.Duration

	mu      sync.Mutex
	exts    map[int64]Extension
	gone    bool
	conns   map[net.Conn]struct{}
	changed chan struct{} // closed and replaced whenever exts changes
	events  []string

	wg sync.WaitGroup
}

// Listen starts a manager on the unix socket path. callTimeout bounds every
// call the manager makes to an extension (osqueryd's --thrift_timeout).
func Listen(path string, callTimeout time.Duration) (*Manager, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("extension manager double: %w", err)
	}
	m := &Manager{
		path:     path,
		ln:       ln,
		callTime: callTimeout,
		exts:     make(map[int64]Extension),
		conns:    make(map[net.Conn]struct{}),
		changed:  make(chan struct{}),
	}
	m.wg.Add(1)
	go m.accept()
	return m, nil
}

// Path is the manager's socket, the extension's --socket.
func (m *Manager) Path() string { return m.path }

func (m *Manager) accept() {
	defer m.wg.Done()
	processor := gen.NewExtensionManagerProcessor(handler{m})
	for {
		c, err := m.ln.Accept()
		if err != nil {
			return // closed by Disappear or Close
		}
		m.mu.Lock()
		if m.gone {
			m.mu.Unlock()
			_ = c.Close()
			return
		}
		m.conns[c] = struct{}{}
		m.mu.Unlock()
		m.wg.Add(1)
		go m.serve(c, processor)
	}
}

// serve answers requests on one connection until it closes, as thrift's
// TSimpleServer does, but owned here so Disappear can cut it.
func (m *Manager) serve(c net.Conn, processor thrift.TProcessor) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
		_ = c.Close()
	}()
	// osqueryd's server side is a buffered transport with the binary protocol.
	trans := thrift.NewTBufferedTransport(thrift.NewTSocketFromConnConf(c, nil), 8192)
	proto := thrift.NewTBinaryProtocolConf(trans, nil)
	ctx := context.Background()
	for {
		ok, err := processor.Process(ctx, proto, proto)
		if err != nil || !ok {
			return
		}
	}
}

// Disappear makes the manager vanish as a dying osqueryd does: the listener
// closes, the socket file goes, and every open connection (the extension's
// ping connection among them) is cut.
func (m *Manager) Disappear() {
	m.mu.Lock()
	m.gone = true
	conns := make([]net.Conn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	_ = m.ln.Close() // a unix listener unlinks its socket file
	for _, c := range conns {
		_ = c.Close()
	}
}

// Close disappears and waits for every connection goroutine to end.
func (m *Manager) Close() {
	m.Disappear()
	m.wg.Wait()
}

// Events returns what the manager was asked to do, in order
// ("register modhunt 1234", "deregister 1234", ...).
func (m *Manager) Events() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// Extensions returns the current registrations.
func (m *Manager) Extensions() map[int64]Extension {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int64]Extension, len(m.exts))
	for k, v := range m.exts {
		out[k] = v
	}
	return out
}

// WaitRegistered waits until an extension called name is registered.
func (m *Manager) WaitRegistered(ctx context.Context, name string) (Extension, error) {
	for {
		m.mu.Lock()
		for _, e := range m.exts {
			if e.Name == name {
				m.mu.Unlock()
				return e, nil
			}
		}
		changed := m.changed
		m.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Extension{}, fmt.Errorf("extension %s did not register: %w", name, ctx.Err())
		}
	}
}

// WaitListening waits until the extension with uuid answers a ping on its
// own socket. An extension registers first and listens after, so osqueryd
// too polls for it (extensionPathActive with its timeout, and
// applyExtensionDelay's 20 ms steps for --extensions_require).
func (m *Manager) WaitListening(ctx context.Context, uuid int64) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := m.PingExtension(ctx, uuid)
		if err == nil && st.Code == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("extension %d is not listening: %w", uuid, errors.Join(ctx.Err(), err))
		}
	}
}

// notify wakes waiters; m.mu must be held.
func (m *Manager) notify(event string) {
	m.events = append(m.events, event)
	close(m.changed)
	m.changed = make(chan struct{})
}

// ExtensionSocket is where the extension with uuid listens
// (osquery/extensions/extensions.h getExtensionSocket).
func (m *Manager) ExtensionSocket(uuid int64) string {
	return m.path + "." + strconv.FormatInt(uuid, 10)
}

// dial opens a client to an extension the way osqueryd's ExtensionClient
// does for every call: a fresh connection, buffered binary protocol.
func (m *Manager) dial(uuid int64) (*gen.ExtensionClient, func(), error) {
	addr, err := net.ResolveUnixAddr("unix", m.ExtensionSocket(uuid))
	if err != nil {
		return nil, nil, err
	}
	sock := thrift.NewTSocketFromAddrConf(addr, &thrift.TConfiguration{
		ConnectTimeout: m.callTime,
		SocketTimeout:  m.callTime,
	})
	if err := sock.Open(); err != nil {
		return nil, nil, fmt.Errorf("connect to extension %d: %w", uuid, err)
	}
	trans := thrift.NewTBufferedTransport(sock, 8192)
	client := gen.NewExtensionClientFactory(trans, thrift.NewTBinaryProtocolFactoryConf(nil))
	return client, func() { _ = sock.Close() }, nil
}

// Call calls registry item on the extension with uuid, as osqueryd's
// callExtension does.
func (m *Manager) Call(ctx context.Context, uuid int64, registry, item string, req map[string]string) (*gen.ExtensionResponse, error) {
	client, done, err := m.dial(uuid)
	if err != nil {
		return nil, err
	}
	defer done()
	return client.Call(ctx, registry, item, req)
}

// PingExtension pings the extension with uuid.
func (m *Manager) PingExtension(ctx context.Context, uuid int64) (*gen.ExtensionStatus, error) {
	client, done, err := m.dial(uuid)
	if err != nil {
		return nil, err
	}
	defer done()
	return client.Ping(ctx)
}

// ShutdownExtension asks the extension with uuid to shut down, as osqueryd
// does for every extension when it stops (ExtensionManagerWatcher::start).
func (m *Manager) ShutdownExtension(ctx context.Context, uuid int64) error {
	client, done, err := m.dial(uuid)
	if err != nil {
		return err
	}
	defer done()
	return client.Shutdown(ctx)
}

// Columns asks a table for its columns: call("table", name,
// {"action":"columns"}), what osqueryd's xCreate does before declaring the
// virtual table.
func (m *Manager) Columns(ctx context.Context, uuid int64, tbl string) ([]Column, *gen.ExtensionResponse, error) {
	resp, err := m.Call(ctx, uuid, "table", tbl, map[string]string{"action": "columns"})
	if err != nil {
		return nil, nil, err
	}
	if resp.Status == nil || resp.Status.Code != 0 {
		return nil, resp, nil
	}
	cols, err := columnsFromRoutes(resp.Response)
	return cols, resp, err
}

// Generate asks a table for rows under qc, as osqueryd's xFilter does for
// an extension table.
func (m *Manager) Generate(ctx context.Context, uuid int64, tbl string, qc QueryContext) (*gen.ExtensionResponse, error) {
	return m.Call(ctx, uuid, "table", tbl, map[string]string{"action": "generate", "context": qc.JSON()})
}

// ErrGone is returned by manager methods once the manager has disappeared.
var ErrGone = errors.New("extension manager is gone")

// handler implements osqueryd's ExtensionManager service.
type handler struct{ m *Manager }

var _ gen.ExtensionManager = handler{}

// Ping answers as ExtensionHandler::ping does for the manager: success,
// uuid 0 (the core), message "pong".
func (h handler) Ping(context.Context) (*gen.ExtensionStatus, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.m.gone {
		return nil, ErrGone
	}
	return &gen.ExtensionStatus{Code: 0, Message: "pong", UUID: 0}, nil
}

// Call would reach osqueryd's own registry (config, logger, tables); the
// double has none.
func (h handler) Call(_ context.Context, registry, item string, _ gen.ExtensionPluginRequest) (*gen.ExtensionResponse, error) {
	return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{
		Code: 1, Message: "Cannot call registry item: " + registry + "/" + item,
	}}, nil
}

// Shutdown is a no-op on the manager, as in ExtensionHandler::shutdown.
func (h handler) Shutdown(context.Context) error { return nil }

func (h handler) Extensions(context.Context) (gen.InternalExtensionList, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	out := gen.InternalExtensionList{}
	for uuid, e := range h.m.exts {
		out[gen.ExtensionRouteUUID(uuid)] = &gen.InternalExtensionInfo{Name: e.Name, Version: e.Version}
	}
	return out, nil
}

func (h handler) Options(context.Context) (gen.InternalOptionList, error) {
	return gen.InternalOptionList{
		"extensions_socket":   {Value: h.m.path, DefaultValue: "/var/osquery/osquery.em", Type: "string"},
		"extensions_timeout":  {Value: "3", DefaultValue: "3", Type: "string"},
		"extensions_interval": {Value: "3", DefaultValue: "3", Type: "string"},
	}, nil
}

// RegisterExtension follows ExtensionManagerInterface::registerExtension:
// a duplicate name is refused, a table without column routes is refused
// (TablePlugin::addExternal "Invalid route info"), and every accepted
// registration gets a fresh uuid in 1..65535.
func (h handler) RegisterExtension(_ context.Context, info *gen.InternalExtensionInfo, registry gen.ExtensionRegistry) (*gen.ExtensionStatus, error) {
	m := h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.exts {
		if e.Name == info.Name {
			return &gen.ExtensionStatus{Code: 1, Message: "Duplicate extension registered"}, nil
		}
	}
	for name, routes := range registry["table"] {
		if len(routes) == 0 {
			return &gen.ExtensionStatus{Code: 1, Message: "Failed adding registry: Invalid route info for " + name}, nil
		}
	}
	var uuid int64
	for {
		uuid = int64(rand.IntN(65535)) + 1
		if _, taken := m.exts[uuid]; !taken {
			break
		}
	}
	m.exts[uuid] = Extension{UUID: uuid, Name: info.Name, Version: info.Version, Registry: registry}
	m.notify(fmt.Sprintf("register %s %d", info.Name, uuid))
	return &gen.ExtensionStatus{Code: 0, Message: "OK", UUID: gen.ExtensionRouteUUID(uuid)}, nil
}

func (h handler) DeregisterExtension(_ context.Context, id gen.ExtensionRouteUUID) (*gen.ExtensionStatus, error) {
	m := h.m
	uuid := int64(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.exts[uuid]; !ok {
		return &gen.ExtensionStatus{Code: 1, Message: "No extension UUID found"}, nil
	}
	delete(m.exts, uuid)
	m.notify(fmt.Sprintf("deregister %d", uuid))
	return &gen.ExtensionStatus{Code: 0, Message: "OK"}, nil
}

// Query and GetQueryColumns need osqueryd's SQL engine; the double answers
// with the failure osqueryd gives for SQL it cannot run.
func (h handler) Query(_ context.Context, sql string) (*gen.ExtensionResponse, error) {
	return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: 1, Message: "the extension manager double runs no SQL: " + sql}}, nil
}

func (h handler) GetQueryColumns(_ context.Context, sql string) (*gen.ExtensionResponse, error) {
	return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: 1, Message: "the extension manager double runs no SQL: " + sql}}, nil
}
