package config

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error of this package is an *Error (or, from Parse
// and Load, an ErrorList of them) whose Err is one of these, so errors.Is
// tells the kind apart; the message itself says what is wrong and what to do.
var (
	ErrInvalid      = errors.New("invalid load balancer configuration")
	ErrNotSupported = errors.New("not supported yet")
	ErrNotFound     = errors.New("no such VIP or backend")
	ErrExists       = errors.New("VIP or backend exists already")
)

// Error is one problem with a configuration. Error() reads
// "FILE:LINE:COLUMN: PATH: MESSAGE", leaving out what is unknown: Parse has
// no file name, a configuration built in Go has no lines, and the mutation
// helpers name the VIP instead of a path.
type Error struct {
	File   string // the file Load read; "" for Parse
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	VIP    string // the VIP's key, set by the mutation helpers
	Path   string // the field at fault, e.g. "vips[0].backends[1].weight"
	Msg    string
	Err    error // ErrInvalid, ErrNotSupported, ErrNotFound or ErrExists
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, "%d:", e.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	for _, s := range []string{e.VIP, e.Path} {
		if s != "" {
			b.WriteString(s + ": ")
		}
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is several problems, in the order of the file. Parse and Load
// return one when they find more than one problem; it holds at most
// maxErrors.
type ErrorList []*Error

const maxErrors = 20

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// errorOf returns nil, the one error of l, or l.
func errorOf(l ErrorList) error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}
