package xsvc

/*
#include <stdlib.h>
#include <xsvc.h>
*/
import "C"

import (
	"context"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Conn is a TCP connection made by Connect, with what the library reports
// about it.
type Conn struct {
	*net.TCPConn
	// Target is the name for TLS ServerName, the certificate check and
	// the HTTP Host header (xs_connect_info.target): Answer.Target without
	// the trailing dot, never an upstream CNAME's target; the host as
	// given for an IP literal. Resolve's Answer.FinalName has the chain's
	// last name for diagnostics.
	Target   string
	Attempts int           // connection attempts started
	Elapsed  time.Duration // resolution and connection
}

// connected is what one xs_connect call gave back.
type connected struct {
	status C.xs_status
	fd     C.int
	info   C.xs_connect_info
}

// connect runs the blocking xs_connect (under the read lock, so Close
// waits for it).
func (r *Resolver) connect(name string, port uint, ms int) *connected {
	c := &connected{fd: -1}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.ptr == nil {
		c.status = C.XS_EINVAL
		msg := "resolver is closed"
		for i := 0; i < len(msg); i++ {
			c.info.message[i] = C.char(msg[i])
		}
		return c
	}
	c.status = C.xs_connect(r.ptr, cname, C.uint(port), C.int(ms), &c.fd, &c.info)
	return c
}

// dialTimeoutMs bounds xs_connect: ctx's deadline, else DialTimeout; 0 when
// the deadline has passed.
func (r *Resolver) dialTimeoutMs(ctx context.Context) int {
	timeout := r.dialTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return 0
	}
	ms := math.Ceil(float64(timeout) / float64(time.Millisecond))
	if ms > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(ms)
}

func closeFd(c *connected) {
	if c.fd >= 0 {
		syscall.Close(int(c.fd))
	}
}

// Connect opens a TCP connection to address ("name:port", or
// "name:portname" for a port named in the Service's spec.ports) with the
// library's xs_connect: the name resolved as Resolve does, the addresses
// tried the way RFC 8305 (Happy Eyeballs v2) describes, the resolver's
// policy applied, addresses that failed lately tried last. It returns when
// ctx ends (its deadline also bounds xs_connect; without one, the
// resolver's DialTimeout does). A failure is a *net.OpError as from
// net.Dialer: its Err a *net.DNSError when the name did not resolve, else
// an *Error (ErrConnect unwrapping to the errno, ErrTimeout, ErrPolicy).
// An IP address as the host is connected to with a net.Dialer, as given.
func (r *Resolver) Connect(ctx context.Context, address string) (*Conn, error) {
	return r.connectTCP(ctx, "tcp", address)
}

func (r *Resolver) connectTCP(ctx context.Context, network, address string) (*Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Err: err}
	}
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	spec, port := host, uint(0)
	if service == "" || strings.Trim(service, "0123456789") == "" {
		n, err := strconv.ParseUint(service, 10, 16)
		if err != nil || n == 0 {
			return nil, opErr(&net.AddrError{Err: "invalid port", Addr: address})
		}
		port = uint(n)
	} else {
		spec = host + ":" + service // a named port of the Service
	}
	if _, err := netip.ParseAddr(host); err == nil && port != 0 {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &Conn{TCPConn: conn.(*net.TCPConn), Target: host, Attempts: 1}, nil
	}
	var c *connected
	if done := ctx.Done(); done == nil {
		c = r.connect(spec, port, r.dialTimeoutMs(ctx))
	} else {
		// xs_connect cannot be cancelled. The name is resolved first, on
		// the cancellable path (the part that waits on upstream DNS); the
		// resolution xs_connect then makes is answered from the cache.
		if _, e := r.answer(ctx, host, FamilyAny); e != nil {
			return nil, opErr(dialError(e, host))
		}
		ms := r.dialTimeoutMs(ctx)
		if ms <= 0 {
			return nil, opErr(contextError(ctx, host))
		}
		// The connection attempts run in their own goroutine, and a socket
		// opened after ctx ended is closed there.
		ch := make(chan *connected, 1)
		go func() { ch <- r.connect(spec, port, ms) }()
		select {
		case c = <-ch:
		case <-done:
			go func() { closeFd(<-ch) }()
			return nil, opErr(contextError(ctx, host))
		}
	}
	if c.status != C.XS_OK {
		return nil, opErr(r.connectError(ctx, host, c))
	}
	conn, err := fdConn(c.fd, host)
	if err != nil {
		return nil, opErr(err)
	}
	return &Conn{TCPConn: conn, Target: C.GoString(&c.info.target[0]),
		Attempts: int(c.info.attempts), Elapsed: time.Duration(c.info.elapsed_ms) * time.Millisecond}, nil
}

// fdConn gives the connected socket fd to Go: net.FileConn dups it into
// the runtime's poller, so the original is closed here either way.
func fdConn(fd C.int, name string) (*net.TCPConn, error) {
	f := os.NewFile(uintptr(fd), "xsvc:"+name)
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		conn.Close()
		return nil, &Error{Status: StatusConnect, Name: name, Message: "not a TCP socket"}
	}
	return tc, nil
}

func (r *Resolver) connectError(ctx context.Context, host string, c *connected) error {
	st := Status(c.status)
	e := &Error{Status: st, Name: host, Message: C.GoString(&c.info.message[0])}
	switch st {
	case StatusConnect:
		e.Errno = syscall.Errno(c.info.error)
		e.err = e.Errno
	case StatusTimeout:
		if _, ok := ctx.Deadline(); ok { // the deadline was xs_connect's bound
			e.err = context.DeadlineExceeded
		}
	}
	return dialError(e, host)
}

// dialError is a failed resolution as net.Dialer reports it (a
// *net.DNSError), other failures as they are.
func dialError(e *Error, host string) error {
	if e.err != nil {
		return e
	}
	switch e.Status {
	case StatusNotFound, StatusNoData, StatusServFail, StatusRefused, StatusUpstream,
		StatusLoop, StatusBadName:
		return dnsError(e, host)
	}
	return e
}

// DialContext connects to address on network as net.Dialer.DialContext
// does, with cluster names: plug it into an http.Transport
// (&http.Transport{DialContext: r.DialContext}) or a gRPC dialer. "tcp"
// goes through Connect (returning its *net.TCPConn); "tcp4", "tcp6" and
// "udp*" resolve the one family with Resolve and dial the addresses in
// turn with a net.Dialer; an IP literal is dialed as given.
func (r *Resolver) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var d net.Dialer
	if _, err := netip.ParseAddr(host); err == nil {
		return d.DialContext(ctx, network, address)
	}
	family := FamilyAny
	switch network {
	case "tcp":
		c, err := r.connectTCP(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return c.TCPConn, nil
	case "tcp4", "udp4":
		family = FamilyIPv4
	case "tcp6", "udp6":
		family = FamilyIPv6
	case "udp":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	a, e := r.answer(ctx, host, family)
	if e != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: dialError(e, host)}
	}
	for _, ad := range a.Addrs {
		var c net.Conn
		c, err = d.DialContext(ctx, network, net.JoinHostPort(ad.IP.String(), port))
		if err == nil {
			return c, nil
		}
	}
	return nil, err
}
