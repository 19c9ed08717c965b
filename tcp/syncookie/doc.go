// Package syncookie makes and checks SYN cookies (IPv4 and IPv6), and generates
// RFC 6528 initial sequence numbers: the keyed secrets a listener needs to
// answer a SYN flood without keeping state, modelled on Linux
// (net/ipv4/syncookies.c) and keyed with SipHash-2-4 (internal/siphash).
//
// # The cookie
//
// When its SYN queue is full a listener answers a SYN with a SYN-ACK whose
// sequence number is the cookie and forgets the SYN. The ACK that
// completes the handshake acknowledges cookie+1; Check recovers from it
// whether the listener made the cookie, for this 4-tuple and peer ISN,
// within the last two minutes, and which MSS it promised.
//
// For a tuple T (peer address and port, local address and port), the peer's
// ISN S, the minute counter n = now / 60 s and the MSS index i (into MSSTable:
// 536, 1300, 1440, 1460, as Linux's msstab for IPv4), the cookie is
//
//	cookie = H1(T, S) + (n mod 256) << 24 + (H2(T, S, n, i) & 0xfffffc | i)   (mod 2^32)
//
// where H1 and H2 are SipHash-2-4 under two independent 128-bit keys,
// truncated to 32 bits. Check subtracts H1 (the ACK's sequence number minus
// one is S), reads n's low 8 bits from the top byte and accepts only
// the current and the previous minute (Linux's MAX_SYNCOOKIE_AGE = 2), reads
// i from the low 2 bits and requires the 22 bits between them to equal H2
// for that minute and index.
//
// This differs from Linux in one respect on purpose: Linux adds S outside
// the hashes and verifies the MSS index only by its range (index < 4), so an
// ACK or sequence number off by one or two passes with another MSS. Here S
// and i are inside H2, which makes every change to the tuple, the ISN or the
// ACK fail with probability at least 1 - 2^-22 (a 22-bit MAC), and a change
// that leaves the minute and the index alone fail always. A blind attacker
// needs about 2^21 guesses per accepted ACK.
//
// # Options in the timestamp
//
// The cookie has no room for the SYN's options. When the SYN carried
// timestamps (RFC 7323), MakeTS hides them in the low 6 bits of the SYN-ACK's
// TSval, as Linux's cookie_init_timestamp; the ACK echoes it in TSecr and
// CheckTS reads them back:
//
//	bits 0-3  window scale shift 0-14, or 15 when the SYN had no window scale
//	bit  4    SACK permitted
//	bit  5    ECN (the SYN asked for ECN: ECE and CWR set)
//
// TSval is the sender's timestamp clock with its low 6 bits replaced by
// these, moved back by 64 ticks if that put it in the future, so it never
// runs ahead of the clock; CheckTS refuses a TSecr later than the clock. The bits are not authenticated (nor are they in
// Linux): whoever can forge them has passed the cookie check for the ISN.
// Without timestamps a cookie connection has no window scaling, SACK or ECN.
//
// IPv6. A tuple's 32 bytes of addresses are first folded into one 64-bit
// word by SipHash under a fourth key (derived from the ISN key), which
// takes the place of IPv4's two addresses in the formula above (and in
// the ISN's); the MSS index is into MSSTable6 (1220, 1420, 1440, 8940:
// Linux's msstab for IPv6).
//
// # ISNs
//
// ISN returns RFC 6528's M + F(localip, localport, remoteip, remoteport,
// secret): a 4-microsecond clock plus SipHash under a third key, for
// connections opened either way.
//
// # Time and concurrency
//
// Time is passed in as monotonic nanoseconds; nothing reads a clock. A Jar
// is immutable after New: any number of workers may use one concurrently.
// Nothing allocates after New.
package syncookie
