package xsvc

// The preamble of a file with //export may only declare: helper.c holds the
// definitions.

/*
#include "helper.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

// waiters: a resolution that went to the engine is waited for here, by its
// C call (unique until xsgo_finish frees it, which only its waiter does).
// A nil entry means the callback came before the waiter.
var waiters = struct {
	sync.Mutex
	m map[*C.xsgo_call]chan struct{}
}{m: make(map[*C.xsgo_call]chan struct{})}

// xsgoDone is called by helper.c's callback, on the resolver's engine
// thread (or the thread freeing the resolver), once per pending call. It
// must not block: it only wakes the waiter.
//
//export xsgoDone
func xsgoDone(p unsafe.Pointer) {
	call := (*C.xsgo_call)(p)
	waiters.Lock()
	ch, ok := waiters.m[call]
	if ok {
		delete(waiters.m, call)
	} else {
		waiters.m[call] = nil
	}
	waiters.Unlock()
	if ok {
		close(ch)
	}
}

// waitFor returns a channel closed when call completes, or nil if it has.
func waitFor(call *C.xsgo_call) <-chan struct{} {
	waiters.Lock()
	defer waiters.Unlock()
	if _, ok := waiters.m[call]; ok {
		delete(waiters.m, call)
		return nil
	}
	ch := make(chan struct{})
	waiters.m[call] = ch
	return ch
}
