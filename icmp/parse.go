package icmp

import (
	"encoding/binary"
	"errors"
	"syscall"

	"github.com/xdpengine/engine/header"
)

// Errors of ParseError. Returned unwrapped.
var (
	// ErrNotError: the message is not an error the engine delivers to
	// sockets (echo, redirect, source quench, an unknown code).
	ErrNotError = errors.New("icmp: not a deliverable ICMP error")
	// ErrShortQuote: the quote lacks the 8 transport bytes the ports are
	// read from (TCP, UDP), or the IP header.
	ErrShortQuote = errors.New("icmp: quoted packet too short")
)

// ReceivedError is a received ICMP error, read from the offending packet's
// quote. The quoted packet was sent by the engine, so its source is the
// local end and its destination the remote end.
type ReceivedError struct {
	Type, Code  uint8
	Proto       uint8 // protocol of the quoted packet
	Local       [4]byte
	Remote      [4]byte
	LocalPort   uint16 // TCP/UDP only
	RemotePort  uint16 // TCP/UDP only
	Errno       syscall.Errno
	Fatal       bool   // Linux's icmp_err_convert "fatal": aborts a connecting TCP socket
	MTU         uint16 // next-hop MTU of fragmentation needed (0: not given, RFC 1191 4)
	QuotedSeq   uint32 // TCP: the quoted sequence number, to check it is in window
	QuotedIdent uint16 // ICMP: the quoted echo identifier
}

type conv struct {
	errno syscall.Errno
	fatal bool
}

// unreach is Linux's icmp_err_convert (net/ipv4/icmp.c), indexed by code.
var unreach = [16]conv{
	header.ICMPv4NetUnreachable:      {syscall.ENETUNREACH, false},
	header.ICMPv4HostUnreachable:     {syscall.EHOSTUNREACH, false},
	header.ICMPv4ProtoUnreachable:    {syscall.ENOPROTOOPT, true},
	header.ICMPv4PortUnreachable:     {syscall.ECONNREFUSED, true},
	header.ICMPv4FragmentationNeeded: {syscall.EMSGSIZE, false},
	header.ICMPv4SourceRouteFailed:   {syscall.EOPNOTSUPP, false},
	header.ICMPv4NetUnknown:          {syscall.ENETUNREACH, true},
	header.ICMPv4HostUnknown:         {syscall.EHOSTDOWN, true},
	header.ICMPv4HostIsolated:        {syscall.ENONET, true},
	header.ICMPv4NetProhibited:       {syscall.ENETUNREACH, true},
	header.ICMPv4HostProhibited:      {syscall.EHOSTUNREACH, true},
	header.ICMPv4NetTOSUnreachable:   {syscall.ENETUNREACH, false},
	header.ICMPv4HostTOSUnreachable:  {syscall.EHOSTUNREACH, false},
	header.ICMPv4AdminProhibited:     {syscall.EHOSTUNREACH, true},
	header.ICMPv4HostPrecedence:      {syscall.EHOSTUNREACH, true},
	header.ICMPv4PrecedenceCutoff:    {syscall.EHOSTUNREACH, true},
}

// ParseError fills e from m, a received ICMP message already validated by
// header.ParseICMPv4. Destination unreachable (codes 0-15) maps by Linux's
// icmp_err_convert; time exceeded gives EHOSTUNREACH (not fatal), parameter
// problem EPROTO (fatal), as Linux's UDP and TCP error handlers do. Other
// types give ErrNotError; a quote without an IP header, or without 8
// payload bytes for TCP and UDP, gives ErrShortQuote or the header
// package's parse error.
func ParseError(m header.ICMPv4, e *ReceivedError) error {
	*e = ReceivedError{Type: m.Type(), Code: m.Code()}
	switch m.Type() {
	case header.ICMPv4DstUnreachable:
		if int(m.Code()) >= len(unreach) {
			return ErrNotError
		}
		c := unreach[m.Code()]
		e.Errno, e.Fatal = c.errno, c.fatal
		if m.Code() == header.ICMPv4FragmentationNeeded {
			e.MTU = m.MTU()
		}
	case header.ICMPv4TimeExceeded:
		if m.Code() > header.ICMPv4ReassemblyExceeded {
			return ErrNotError
		}
		e.Errno = syscall.EHOSTUNREACH
	case header.ICMPv4ParamProblem:
		e.Errno, e.Fatal = syscall.EPROTO, true
	default:
		return ErrNotError
	}
	q, err := header.ParseIPv4Quoted(m.Payload())
	if err != nil {
		return err
	}
	e.Proto, e.Local, e.Remote = q.Protocol(), q.Src4(), q.Dst4()
	p := q.Payload()
	switch e.Proto {
	case header.ProtocolTCP, header.ProtocolUDP:
		if len(p) < QuoteLen {
			return ErrShortQuote
		}
		e.LocalPort = binary.BigEndian.Uint16(p[0:])
		e.RemotePort = binary.BigEndian.Uint16(p[2:])
		if e.Proto == header.ProtocolTCP {
			e.QuotedSeq = binary.BigEndian.Uint32(p[4:])
		}
	case header.ProtocolICMP:
		if len(p) >= QuoteLen {
			e.QuotedIdent = binary.BigEndian.Uint16(p[4:])
		}
	}
	return nil
}
