package main

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/xdpengine/engine/internal/testbed"
	"golang.org/x/sys/unix"
)

// kernel is the reference: the kernel's own path, with batched syscalls.
//
//	rxdrop  a UDP socket on the host kernel's address, recvmmsg
//	txonly  a connected UDP socket, sendmmsg
//	l2fwd   an AF_PACKET socket on the interface, recvmmsg, swap, sendmmsg
type kernel struct {
	c    string
	fd   int
	bufs *mmsgBufs
}

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// mmsgBufs is a batch of message headers over fixed buffers.
type mmsgBufs struct {
	msgs []mmsghdr
	iovs []unix.Iovec
	bufs [][]byte
}

func newMmsg(batch, size int) *mmsgBufs {
	m := &mmsgBufs{msgs: make([]mmsghdr, batch), iovs: make([]unix.Iovec, batch), bufs: make([][]byte, batch)}
	for i := range batch {
		m.bufs[i] = make([]byte, size)
		m.iovs[i].Base = &m.bufs[i][0]
		m.iovs[i].SetLen(size)
		m.msgs[i].hdr.Iov = &m.iovs[i]
		m.msgs[i].hdr.Iovlen = 1
	}
	return m
}

func (m *mmsgBufs) call(trap uintptr, fd, n int, flags int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&m.msgs[0])), uintptr(n), uintptr(flags), 0, 0)
	return int(r), e
}

func setupKernel(bed *testbed.Bed, o *options, c string) (worker, error) {
	k := &kernel{c: c, fd: -1}
	var err error
	switch c {
	case "rxdrop", "rxdrop-nap":
		k.bufs = newMmsg(o.batch, 2048)
		if k.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return nil, err
		}
		unix.SetsockoptInt(k.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		err = unix.Bind(k.fd, &unix.SockaddrInet4{Port: 2000, Addr: bed.HostAddr.As4()})
	case "txonly":
		k.bufs = newMmsg(o.batch, payloadLen)
		for i := range k.bufs.iovs {
			k.bufs.iovs[i].SetLen(payloadLen)
		}
		if k.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return nil, err
		}
		if err = unix.Bind(k.fd, &unix.SockaddrInet4{Port: 1000, Addr: bed.HostAddr.As4()}); err == nil {
			err = unix.Connect(k.fd, &unix.SockaddrInet4{Port: 9, Addr: bed.PeerAddr.As4()})
		}
		// Resolve the peer's MAC before measuring.
		if err == nil {
			unix.Write(k.fd, make([]byte, payloadLen))
			time.Sleep(50 * time.Millisecond)
		}
	case "l2fwd":
		k.bufs = newMmsg(o.batch, 2048)
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(bed.HostIf); err != nil {
			return nil, err
		}
		if k.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL))); err != nil {
			return nil, err
		}
		unix.SetsockoptInt(k.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		unix.SetsockoptInt(k.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		unix.SetsockoptInt(k.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
		err = unix.Bind(k.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}
	if err != nil {
		k.close()
		return nil, fmt.Errorf("kernel %s socket: %w", c, err)
	}
	tv := unix.NsecToTimeval(int64(idle))
	unix.SetsockoptTimeval(k.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return k, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (k *kernel) mode() string {
	return map[string]string{"rxdrop": "UDP recvmmsg", "rxdrop-nap": "UDP recvmmsg", "txonly": "UDP sendmmsg", "l2fwd": "AF_PACKET mmsg"}[k.c]
}

func (k *kernel) close() {
	if k.fd >= 0 {
		unix.Close(k.fd)
	}
}

func (k *kernel) run(stop *atomic.Bool) uint64 {
	m, batch := k.bufs, len(k.bufs.msgs)
	var n uint64
	for !stop.Load() {
		switch k.c {
		case "rxdrop":
			if r, e := m.call(unix.SYS_RECVMMSG, k.fd, batch, unix.MSG_WAITFORONE); e == 0 {
				n += uint64(r)
			}
		case "rxdrop-nap":
			if r, e := m.call(unix.SYS_RECVMMSG, k.fd, batch, unix.MSG_DONTWAIT); e == 0 {
				n += uint64(r)
			} else {
				nap()
			}
		case "txonly":
			if r, e := m.call(unix.SYS_SENDMMSG, k.fd, batch, 0); e == 0 {
				n += uint64(r)
			}
		case "l2fwd":
			r, e := m.call(unix.SYS_RECVMMSG, k.fd, batch, unix.MSG_WAITFORONE)
			if e != 0 || r <= 0 {
				continue
			}
			for i := range r {
				b := m.bufs[i][:m.msgs[i].n]
				swapMAC(b)
				m.iovs[i].SetLen(len(b))
			}
			if s, e := m.call(unix.SYS_SENDMMSG, k.fd, r, 0); e == 0 {
				n += uint64(s)
			}
			for i := range r {
				m.iovs[i].SetLen(len(m.bufs[i]))
			}
		}
	}
	return n
}

func (k *kernel) xskDrops() (uint64, uint64, bool) { return 0, 0, false }

func (k *kernel) busy() time.Duration { return 0 }
