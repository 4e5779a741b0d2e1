package osqueryhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	osquery "github.com/osquery/osquery-go"
	gen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/transport"
)

// extensionServer is osquery-go's ExtensionManagerServer Start and Shutdown
// with one change: the Thrift processor's "call" writes table rows without
// building a map per row (rowwriter.go). osquery-go builds its processor
// inside Start with no way to reach it, so the two are redone here, step
// for step; pings and the routing of calls to plugins stay osquery-go's own
// (router), and so do the client, the server socket and the generated
// processor.
type extensionServer struct {
	name, version string
	socket        string
	timeout       time.Duration
	client        osquery.ExtensionManager
	router        *osquery.ExtensionManagerServer
	plugins       []osquery.OsqueryPlugin
	transport     thrift.TTransportFactory

	mu     sync.Mutex
	server thrift.TServer
	uuid   gen.ExtensionRouteUUID
}

// registries are osquery-go's registry names (validRegistryNames): its
// registration lists every one, empty or not, and so does this one.
var registries = []string{"table", "logger", "config", "distributed"}

func (s *extensionServer) registry() gen.ExtensionRegistry {
	reg := make(gen.ExtensionRegistry, len(registries))
	for _, name := range registries {
		reg[name] = gen.ExtensionRouteTable{}
	}
	for _, p := range s.plugins {
		reg[p.RegistryName()][p.Name()] = p.Routes()
	}
	return reg
}

// Start registers the plugins and serves osqueryd's calls until Shutdown.
func (s *extensionServer) Start() error {
	server, err := func() (thrift.TServer, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		stat, err := s.client.RegisterExtension(&gen.InternalExtensionInfo{Name: s.name, Version: s.version}, s.registry())
		if err != nil {
			return nil, fmt.Errorf("registering extension: %w", err)
		}
		if stat.Code != 0 {
			return nil, fmt.Errorf("status %d registering extension: %s", stat.Code, stat.Message)
		}
		s.uuid = stat.UUID

		processor, err := newProcessor(s)
		if err != nil {
			return nil, err
		}

		listen := extensionSocket(s.socket, stat.UUID)
		var trans thrift.TServerTransport
		trans, err = transport.OpenServer(listen, s.timeout)
		if err != nil {
			openErr := fmt.Errorf("opening server socket (%s): %w", listen, err)
			if _, err := s.client.DeregisterExtension(stat.UUID); err != nil {
				return nil, fmt.Errorf("deregistering extension after %w: %w", openErr, err)
			}
			return nil, openErr
		}
		s.server = thrift.NewTSimpleServer4(processor, trans, s.transport, thrift.NewTBinaryProtocolFactoryConf(nil))
		return s.server, nil
	}()
	if err != nil {
		return err
	}
	return server.Serve()
}

// newProcessor is osquery-go's generated processor for h with its "call"
// writing table rows through rowsCall.
func newProcessor(h gen.Extension) (*gen.ExtensionProcessor, error) {
	processor := gen.NewExtensionProcessor(h)
	stock, ok := processor.GetProcessorFunction("call")
	if !ok {
		return nil, errors.New("osquery-go's processor has no call function")
	}
	processor.AddToProcessorMap("call", rowsCall{stock: stock})
	return processor, nil
}

// Shutdown deregisters the extension and stops the server without waiting
// for it: it may be running on the server's own connection (osqueryd's
// shutdown call), which Stop would wait for.
func (s *extensionServer) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stat, err := s.client.DeregisterExtension(s.uuid)
	if err != nil {
		err = fmt.Errorf("deregistering extension: %w", err)
	} else if stat.Code != 0 {
		err = fmt.Errorf("status %d deregistering extension: %s", stat.Code, stat.Message)
	}
	if server := s.server; server != nil {
		s.server = nil
		go func() { _ = server.Stop() }()
	}
	return err
}

// Ping and Call are osquery-go's.
func (s *extensionServer) Ping(ctx context.Context) (*gen.ExtensionStatus, error) {
	return s.router.Ping(ctx)
}

func (s *extensionServer) Call(ctx context.Context, registry, item string, req gen.ExtensionPluginRequest) (*gen.ExtensionResponse, error) {
	return s.router.Call(ctx, registry, item, req)
}
