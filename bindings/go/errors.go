package xsvc

/*
#include <xsvc.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Status is the library's xs_status: why a call failed.
type Status int

// The library's statuses (xs_status), in its order.
const (
	StatusOK        Status = iota // XS_OK
	StatusInvalid                 // XS_EINVAL: an argument or option is invalid
	StatusNoMemory                // XS_ENOMEM
	StatusIO                      // XS_EIO: a file or directory could not be read
	StatusManifest                // XS_EMANIFEST: a manifest is invalid
	StatusLimit                   // XS_ELIMIT: a limit was reached (a manifest's, requests in flight)
	StatusExist                   // XS_EEXIST: the (namespace, name) exists
	StatusNotFound                // XS_ENOTFOUND: no such name (NXDOMAIN) or entry
	StatusNoData                  // XS_ENODATA: the name has no records of that family
	StatusLoop                    // XS_ELOOP: a CNAME loop or a chain too long
	StatusTimeout                 // XS_ETIMEOUT: upstream DNS (or a connection) timed out
	StatusServFail                // XS_ESERVFAIL: upstream answered SERVFAIL
	StatusRefused                 // XS_EREFUSED: upstream refused
	StatusUpstream                // XS_EUPSTREAM: another upstream failure
	StatusCancelled               // XS_ECANCELLED: the request was cancelled
	StatusPolicy                  // XS_EPOLICY: refused by the resolver's policy
	StatusBadName                 // XS_EBADNAME: not a valid DNS name
	StatusConnect                 // XS_ECONNECT: every address refused or failed
	statusCount
)

var statusNames = [...]string{
	"OK", "EINVAL", "ENOMEM", "EIO", "EMANIFEST", "ELIMIT", "EEXIST",
	"ENOTFOUND", "ENODATA", "ELOOP", "ETIMEOUT", "ESERVFAIL", "EREFUSED",
	"EUPSTREAM", "ECANCELLED", "EPOLICY", "EBADNAME", "ECONNECT",
}

// statusText holds xs_strerror's sentences, read once.
var statusText [statusCount]string

func init() {
	for s := StatusOK; s < statusCount; s++ {
		statusText[s] = C.GoString(C.xs_strerror(C.xs_status(s)))
	}
}

// String is the status's name without the XS_ prefix, e.g. "ENOTFOUND".
func (s Status) String() string {
	if s >= 0 && s < statusCount {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Text is the library's description of the status (xs_strerror), e.g.
// "name not found".
func (s Status) Text() string {
	if s >= 0 && s < statusCount {
		return statusText[s]
	}
	return "unknown status"
}

// Error is a failure reported by the library. Compare with errors.Is
// against the Err* values (which compare by Status); a cancelled or timed
// out call also matches its context's error.
type Error struct {
	Status  Status
	Name    string  // the name asked, when there was one
	Message string  // detail: the policy rule, a connect failure, a validation message
	Answer  *Answer // a failed resolution's answer (candidates tried, chain), or nil
	Errno   syscall.Errno
	err     error // the cause (context error, errno), for Unwrap
}

// Sentinels for errors.Is. ErrNotFound also matches StatusNoData (the name
// exists without an address of the family asked: "not found" to most
// callers, as net treats it).
var (
	ErrInvalid   = &Error{Status: StatusInvalid}
	ErrNoMemory  = &Error{Status: StatusNoMemory}
	ErrIO        = &Error{Status: StatusIO}
	ErrManifest  = &Error{Status: StatusManifest}
	ErrLimit     = &Error{Status: StatusLimit}
	ErrExist     = &Error{Status: StatusExist}
	ErrNotFound  = &Error{Status: StatusNotFound}
	ErrNoData    = &Error{Status: StatusNoData}
	ErrLoop      = &Error{Status: StatusLoop}
	ErrTimeout   = &Error{Status: StatusTimeout}
	ErrServFail  = &Error{Status: StatusServFail}
	ErrRefused   = &Error{Status: StatusRefused}
	ErrUpstream  = &Error{Status: StatusUpstream}
	ErrCancelled = &Error{Status: StatusCancelled}
	ErrPolicy    = &Error{Status: StatusPolicy}
	ErrBadName   = &Error{Status: StatusBadName}
	ErrConnect   = &Error{Status: StatusConnect}
	ErrClosed    = &Error{Status: StatusInvalid, Message: "use of a closed registry, resolver or server"}
)

func (e *Error) Error() string {
	s := "xsvc: "
	if e.Name != "" {
		s += e.Name + ": "
	}
	s += e.Status.Text()
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap gives the cause: context.DeadlineExceeded or context.Canceled for
// a call its context ended, the errno of a failed connection, or nil.
func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is an *Error of the same Status (ErrNotFound
// also takes StatusNoData).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t == ErrClosed {
		return e == ErrClosed
	}
	return t.Status == e.Status || (t.Status == StatusNotFound && e.Status == StatusNoData)
}

// Timeout reports a timeout (net.Error).
func (e *Error) Timeout() bool { return e.Status == StatusTimeout }

// Temporary reports a failure that may pass when tried again (net.Error).
func (e *Error) Temporary() bool {
	switch e.Status {
	case StatusTimeout, StatusServFail, StatusUpstream, StatusNoMemory:
		return true
	}
	return false
}

var _ net.Error = (*Error)(nil)

// ManifestError is a failed load: where (File, Line, Column; 1-based, 0
// when unknown) and why, in the Kubernetes API server's words where it has
// them. errors.Is(err, ErrManifest) (or ErrIO, ErrLimit, ErrExist,
// ErrPolicy) tells the kind.
type ManifestError struct {
	Status  Status
	File    string
	Line    int
	Column  int
	Message string
}

func (e *ManifestError) Error() string {
	where := e.File
	if e.Line > 0 {
		where += fmt.Sprintf(":%d", e.Line)
		if e.Column > 0 {
			where += fmt.Sprintf(":%d", e.Column)
		}
	}
	msg := e.Message
	if msg == "" {
		msg = e.Status.Text()
	}
	if where == "" {
		return "xsvc: " + msg
	}
	return "xsvc: " + where + ": " + msg
}

// Is reports whether target is an *Error of the same Status.
func (e *ManifestError) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != ErrClosed && t.Status == e.Status
}

// errorFrom turns a C xs_error into a Go error: a *ManifestError when it
// names a file, else an *Error.
func errorFrom(st C.xs_status, cerr *C.xs_error) error {
	if st == C.XS_OK {
		return nil
	}
	msg := C.GoString(&cerr.message[0])
	if file := C.GoString(&cerr.file[0]); file != "" {
		return &ManifestError{Status: Status(st), File: file, Line: int(cerr.line),
			Column: int(cerr.column), Message: msg}
	}
	return &Error{Status: Status(st), Message: msg}
}

func statusError(st C.xs_status) error {
	if st == C.XS_OK {
		return nil
	}
	return &Error{Status: Status(st)}
}

// contextError is the *Error for a call whose context ended first.
func contextError(ctx context.Context, name string) *Error {
	err := ctx.Err()
	st := StatusCancelled
	if errors.Is(err, context.DeadlineExceeded) {
		st = StatusTimeout
	}
	return &Error{Status: st, Name: name, Message: err.Error(), err: err}
}

// dnsError is what net.Resolver would return for the failure: IsNotFound
// for NXDOMAIN and NODATA, IsTimeout for timeouts. From Go 1.23 on it also
// unwraps to the *Error (see dnserror_go123.go).
func dnsError(e *Error, host string) *net.DNSError {
	d := &net.DNSError{Name: host}
	switch {
	case e.Status == StatusNotFound || e.Status == StatusNoData:
		d.Err = "no such host"
		d.IsNotFound = true
	case errors.Is(e.err, context.DeadlineExceeded):
		d.Err = "i/o timeout"
		d.IsTimeout = true
	case errors.Is(e.err, context.Canceled):
		d.Err = "operation was canceled"
	default:
		d.Err = e.Status.Text()
		if e.Message != "" {
			d.Err += ": " + e.Message
		}
		d.IsTimeout = e.Timeout()
		d.IsTemporary = e.Temporary()
	}
	setUnwrapped(d, e)
	return d
}
