package xsvc

/*
#include <stdlib.h>
#include <xsvc.h>
*/
import "C"

import (
	"sync"
	"unsafe"
)

// Server is a DNS server on one loopback address (UDP and TCP) answering as
// the cluster's CoreDNS would from a resolver's registry and settings: a
// fake cluster DNS for tests. See package xsvctest for a ready fixture.
type Server struct {
	mu   sync.Mutex
	ptr  *C.xs_server
	res  *Resolver
	addr string
	port int
}

// Serve starts a DNS server on listen ("127.0.0.1:0", "[::1]:0": port 0
// takes a free port, the same on UDP and TCP). Names outside the cluster
// are forwarded through r only if r was given Servers, else REFUSED.
// A server runs until Close (as a net/http.Server does: no finalizer
// stops it), and keeps r from being collected; closing r stops its
// servers first.
func (r *Resolver) Serve(listen string) (*Server, error) {
	cl := C.CString(listen)
	defer C.free(unsafe.Pointer(cl))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == nil {
		return nil, ErrClosed
	}
	var p *C.xs_server
	var cerr C.xs_error
	if err := errorFrom(C.xs_server_start(r.ptr, cl, &p, &cerr), &cerr); err != nil {
		return nil, err
	}
	s := &Server{ptr: p, res: r, addr: C.GoString(C.xs_server_address(p)), port: int(C.xs_server_port(p))}
	if r.servers == nil {
		r.servers = make(map[*Server]struct{})
	}
	r.servers[s] = struct{}{}
	return s, nil
}

// Addr is "HOST:PORT" the server listens on, e.g. "127.0.0.1:40123".
func (s *Server) Addr() string { return s.addr }

// Port is the port it listens on (UDP and TCP).
func (s *Server) Port() int { return s.port }

// Queries is the number of DNS messages it has read.
func (s *Server) Queries() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return 0
	}
	var c C.xs_server_counts
	C.xs_server_stats(s.ptr, &c)
	return uint64(c.queries)
}

// Close stops the server (queries being answered finish first).
// Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	p := s.ptr
	s.ptr = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	C.xs_server_stop(p)
	s.res.mu.Lock()
	delete(s.res.servers, s)
	s.res.mu.Unlock()
	return nil
}
