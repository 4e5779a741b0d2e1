package osqueryhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	osquery "github.com/osquery/osquery-go"
	gen "github.com/osquery/osquery-go/gen/osquery"

	"github.com/modhunt/modhunt/tables/table"
)

// Config is what Serve needs to know.
type Config struct {
	// Name is the extension's registered name, the one osqueryd's
	// --extensions_require and osquery_extensions.name match.
	Name    string
	Version string
	// Socket is osqueryd's extension manager socket (--socket).
	Socket string
	// Timeout bounds the wait for Socket to appear and every Thrift
	// exchange with osqueryd (--timeout).
	Timeout time.Duration
	// Interval is how often osqueryd is pinged to notice it is gone
	// (--interval).
	Interval time.Duration
	Tables   []*table.Table
	Guard    *table.Guard
	Log      *slog.Logger

	// transport overrides the buffered transport, for the benchmark that
	// measures what buffering buys.
	transport thrift.TTransportFactory
}

// writeBuffer batches the Thrift binary protocol's many small writes into
// one write per flush; a large result set is otherwise one syscall per
// string.
const writeBuffer = 64 << 10

// stopGrace bounds how long Serve waits for the Thrift server to drain once
// it has asked it to stop; osqueryd kills an extension 11 s after SIGTERM.
const stopGrace = 5 * time.Second

// connDrain is how long a stopping Thrift server lets open connections
// finish before it closes them. Without it (thrift's default is 0) Stop
// waits forever for a client that keeps its connection open.
const connDrain = 2 * time.Second

var setDrain sync.Once

// ErrNoSocket reports that osqueryd's socket did not appear in time.
var ErrNoSocket = errors.New("osquery extension manager socket not available")

// Serve registers the tables with osqueryd's extension manager at
// cfg.Socket and serves them until osqueryd asks the extension to shut down,
// osqueryd goes away (a ping fails), or ctx is done. Those three ends are
// normal: Serve logs which one it was and returns nil. It returns an error
// when it cannot connect, register or listen.
func Serve(ctx context.Context, cfg Config) error {
	if err := cfg.check(); err != nil {
		return err
	}
	log := cfg.Log.With("socket", cfg.Socket)

	plugins := make([]osquery.OsqueryPlugin, 0, len(cfg.Tables))
	sched := &scheduledQuery{}
	for _, t := range cfg.Tables {
		p, err := NewPlugin(t, cfg.Guard, cfg.Log)
		if err != nil {
			return err
		}
		p.g.sched = sched
		plugins = append(plugins, p)
	}

	// Process-wide, but this package runs the process's only Thrift server.
	setDrain.Do(func() { thrift.ServerStopTimeout = connDrain })

	log.DebugContext(ctx, "connecting to osquery", "timeout", cfg.Timeout.String())
	conn, err := connect(ctx, cfg.Socket, cfg.Timeout)
	if err != nil && ctx.Err() != nil {
		log.InfoContext(ctx, "extension stopping before osquery answered", "reason", context.Cause(ctx).Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s (waited %s): %w", ErrNoSocket, cfg.Socket, cfg.Timeout, err)
	}
	mc := &managerClient{ExtensionManagerClient: conn, socket: cfg.Socket, log: log, registered: make(chan struct{})}
	sched.set(conn)
	defer conn.Close()

	transport := cfg.transport
	if transport == nil {
		transport = thrift.NewTBufferedTransportFactory(writeBuffer)
	}
	// osquery-go's server routes calls to the plugins; extensionServer
	// registers, listens and writes the replies.
	router, err := osquery.NewExtensionManagerServer(cfg.Name, cfg.Socket,
		osquery.ExtensionVersion(cfg.Version),
		osquery.ServerTimeout(cfg.Timeout),
		osquery.WithClient(mc),
	)
	if err != nil {
		return fmt.Errorf("osquery extension server: %w", err)
	}
	router.RegisterPlugin(plugins...)
	srv := &extensionServer{
		name: cfg.Name, version: cfg.Version, socket: cfg.Socket, timeout: cfg.Timeout,
		client: mc, router: router, plugins: plugins, transport: transport,
	}

	// osquery-go's own Run is not used: it cannot be stopped from outside,
	// it reports osqueryd's departure and a failed start alike as an error,
	// and it leaves a goroutine behind when a ping fails. This loop does what
	// it does (serve, ping every interval) and tells the ends apart.
	served := make(chan error, 1)
	go func() { served <- srv.Start() }()
	s := &session{srv: srv, mc: mc, served: served, timeout: cfg.Timeout, log: log}

	ping := time.NewTicker(cfg.Interval)
	defer ping.Stop()
	for {
		select {
		case err := <-served:
			s.servedDone = true
			if err != nil {
				if mc.isRegistered() {
					// Registered but could not listen: take the routes back.
					s.shutdown(context.WithoutCancel(ctx))
				}
				return fmt.Errorf("serving osquery extension: %w", err)
			}
			if !mc.deregistered.Load() {
				// Not a Shutdown: thrift's accept loop gave up.
				s.shutdown(context.WithoutCancel(ctx))
				return errors.New("serving osquery extension: the extension's socket stopped accepting calls")
			}
			// osqueryd's shutdown call ran extensionServer.Shutdown, which
			// deregistered and stopped the server.
			log.InfoContext(ctx, "osquery asked the extension to shut down")
			s.cleanup()
			return nil

		case <-ctx.Done():
			log.InfoContext(ctx, "extension stopping", "reason", context.Cause(ctx).Error())
			s.shutdown(context.WithoutCancel(ctx))
			return nil

		case <-ping.C:
			if !mc.isRegistered() {
				continue // still registering; that exchange has its own timeout
			}
			if err := s.ping(ctx); err != nil {
				if ctx.Err() != nil {
					continue // the stop is reported by the ctx case
				}
				mc.gone.Store(true)
				log.InfoContext(ctx, "osquery extension manager went away, extension stopping", "err", err)
				s.shutdown(context.WithoutCancel(ctx))
				return nil
			}
		}
	}
}

// connect opens the client to osqueryd, retrying until timeout has passed.
// osquery-go waits for a unix socket file to appear, but gives up at once
// when the file is there and nobody accepts yet (osqueryd restarting over
// its old socket) or, on Windows, when the pipe does not exist yet.
func connect(ctx context.Context, socket string, timeout time.Duration) (*osquery.ExtensionManagerClient, error) {
	const retry = 200 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		// The timeout given here is also every later exchange's read and
		// write timeout, so it is always the full one.
		conn, err := osquery.NewClient(socket, timeout)
		if err == nil {
			return conn, nil
		}
		if time.Until(deadline) < retry {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(retry):
		}
	}
}

func (cfg *Config) check() error {
	switch {
	case cfg.Name == "":
		return errors.New("osqueryhost: no extension name")
	case cfg.Socket == "":
		return errors.New("osqueryhost: no osquery socket")
	case len(cfg.Socket) > osquery.MaxSocketPathCharacters:
		// osqueryd appends ".<uuid>" for the extension's own socket, and a
		// unix socket path has room for about 104 bytes.
		return fmt.Errorf("osqueryhost: socket path %s is %d characters, longer than osquery's limit of %d",
			cfg.Socket, len(cfg.Socket), osquery.MaxSocketPathCharacters)
	case cfg.Timeout <= 0:
		return fmt.Errorf("osqueryhost: timeout %s is not positive", cfg.Timeout)
	case cfg.Interval <= 0:
		return fmt.Errorf("osqueryhost: ping interval %s is not positive", cfg.Interval)
	case cfg.Guard == nil:
		return errors.New("osqueryhost: no guard")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// session is one registration's worth of state for Serve's stop paths.
type session struct {
	srv        *extensionServer
	mc         *managerClient
	served     <-chan error
	servedDone bool
	timeout    time.Duration
	log        *slog.Logger
}

func (s *session) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	st, err := s.mc.PingContext(ctx)
	if err != nil {
		return err
	}
	if st.Code != int32(gen.ExtensionCode_EXT_SUCCESS) {
		return fmt.Errorf("ping status %d: %s", st.Code, st.Message)
	}
	return nil
}

// shutdown deregisters (unless osqueryd is gone) and stops the Thrift
// server, waiting a bounded time for it to drain.
func (s *session) shutdown(ctx context.Context) {
	// A stop that lands while Start is still registering must wait for it:
	// Shutdown before Start has a server to stop would leave Start serving.
	if !s.servedDone {
		select {
		case <-s.mc.registered:
		case err := <-s.served:
			s.servedDone = true
			if err != nil {
				s.log.DebugContext(ctx, "extension server ended before the stop", "err", err)
			}
		case <-time.After(s.timeout):
			s.log.WarnContext(ctx, "registration still pending at stop")
		}
	}
	if err := s.srv.Shutdown(ctx); err != nil && !s.mc.gone.Load() {
		s.log.WarnContext(ctx, "deregistering from osquery failed", "err", err)
	}
	if !s.servedDone {
		select {
		case err := <-s.served:
			s.servedDone = true
			if err != nil {
				s.log.DebugContext(ctx, "extension server ended with an error", "err", err)
			}
		case <-time.After(stopGrace):
			s.log.WarnContext(ctx, "extension server did not stop in time", "grace", stopGrace.String())
		}
	}
	s.cleanup()
}

// cleanup removes the extension's socket if a stop that raced Start's
// listen left it behind (a stopped listener removes its own).
func (s *session) cleanup() {
	if s.mc.isRegistered() {
		removeStaleSocket(extensionSocket(s.mc.socket, gen.ExtensionRouteUUID(s.mc.uuid.Load())))
	}
}

// extensionSocket is where an extension listens once registered: osquery's
// getExtensionSocket (osquery/extensions/extensions.h), osquery-go's Start
// and extensionServer.Start agree on "<manager socket>.<uuid>".
func extensionSocket(manager string, uuid gen.ExtensionRouteUUID) string {
	return fmt.Sprintf("%s.%d", manager, uuid)
}

// managerClient is osquery-go's client to osqueryd with two hooks: it
// records the registration (so Serve knows when pings make sense and when a
// stop can reach the server), and it skips deregistering from an osqueryd
// that is already gone rather than wait out a timeout talking to nobody.
type managerClient struct {
	*osquery.ExtensionManagerClient
	socket string
	log    *slog.Logger
	uuid   atomic.Int64
	gone   atomic.Bool
	// deregistered is set once Shutdown has run.
	deregistered atomic.Bool
	registered   chan struct{}
	once         sync.Once
}

func (c *managerClient) RegisterExtension(info *gen.InternalExtensionInfo, registry gen.ExtensionRegistry) (*gen.ExtensionStatus, error) {
	st, err := c.ExtensionManagerClient.RegisterExtension(info, registry)
	if err == nil && st.Code == int32(gen.ExtensionCode_EXT_SUCCESS) {
		// osqueryd's uuids repeat across its restarts (an unseeded rand()),
		// so a crashed predecessor's socket may sit where this one must listen.
		removeStaleSocket(extensionSocket(c.socket, st.UUID))
		c.uuid.Store(int64(st.UUID))
		c.log.Info("registered with osquery", "name", info.Name, "uuid", st.UUID, "tables", len(registry["table"]))
		c.once.Do(func() { close(c.registered) })
	}
	return st, err
}

func (c *managerClient) isRegistered() bool {
	select {
	case <-c.registered:
		return true
	default:
		return false
	}
}

func (c *managerClient) DeregisterExtension(uuid gen.ExtensionRouteUUID) (*gen.ExtensionStatus, error) {
	c.deregistered.Store(true)
	if c.gone.Load() {
		return nil, errors.New("osquery is gone")
	}
	return c.ExtensionManagerClient.DeregisterExtension(uuid)
}
