// Package config is the load balancer's configuration: the model (Config,
// VIP, Backend, Health, Conntrack), its file format (YAML, read by Parse and
// Load, written by Marshal and Save) and the copy-on-write helpers that the
// command line and the control socket use to change it. This comment is the
// reference of the file format.
//
// # Model
//
// A Config is a list of VIPs and the connection tracking settings. A VIP is
// an IPv4 address, a port (0: every port) and a protocol, which together are
// its key, written ADDR:PORT/PROTO ("198.18.0.100:80/tcp"; VIP.Key,
// ParseVIPKey). Packets to a VIP go to one of its backends: flows already
// tracked go where they went; a new flow goes where the VIP's Maglev table
// sends its hash, the table being filled from the backends by weight.
//
// A Config from Parse, Load, New or a helper is complete (every default
// filled in) and valid. It is a value: nothing in this package changes it
// afterwards, so it can be shared between goroutines and swapped in whole.
// The helpers (AddVIP, RemoveVIP, AddBackend, RemoveBackend, SetWeight,
// Drain, Undrain) return a new Config, checked as Parse checks a file.
//
// # The file
//
// An example, with every key of a VIP:
//
//	vips:
//	  - address: 198.18.0.100
//	    port: 80
//	    protocol: tcp
//	    forwarding: nat
//	    table_size: 65537
//	    hash: 5-tuple
//	    on_backend_down: reset
//	    fragments: reassemble
//	    health: {type: http, port: 80, path: /healthz, status: 200, interval: 1s, timeout: 500ms, rise: 2, fall: 2}
//	    backends:
//	      - {address: 198.18.1.11, weight: 1}
//	      - {address: 198.18.1.12, weight: 2, drain: false}
//	conntrack: {max_flows: 65536, tcp_syn: 60s, tcp_established: 24h, tcp_closing: 120s, udp: 30s}
//
// The top level has two keys, both optional: vips, a list of VIPs, and
// conntrack. Keys starting with "x-" at the top level are ignored: they
// can hold anchors (&name) for aliases (*name) and merge keys (<<: *name)
// elsewhere, e.g. one health check shared by several VIPs. Unknown keys
// anywhere else are errors, and so are values of the wrong type: a number
// where a duration is expected ("5" instead of "5s"), a quoted "80" where a
// number is expected. Durations are Go durations: 500ms, 2s, 1m30s, 1h.
//
// # VIP keys
//
// address (required): the IPv4 or IPv6 address clients connect to: a host
// address, not 0.0.0.0 or ::, a loopback, multicast, link-local (IPv6) or
// the broadcast address. Its backends are of the same family: mixing
// families is not supported yet (ErrNotSupported, at the backend's line).
// An IPv6 VIP forwards in nat or dsr-l2 only, without fast_path,
// fragments: hash3 or health target: vip (ErrNotSupported). An IPv6 VIP's
// key brackets the address: [2001:db8::100]:80/tcp.
//
// port (required): the TCP or UDP port, 1 to 65535, or 0 for every port.
// A port-0 VIP and VIPs of specific ports may share an address and
// protocol: a packet goes to the VIP of its exact port if there is one, else
// to the port-0 VIP (Config.Lookup). VIPs are unique by address, port and
// protocol.
//
// protocol (required): tcp or udp.
//
// forwarding (required): how packets reach a backend.
//   - nat: the balancer rewrites the destination address to the backend's
//     and the source of the replies back to the VIP; replies must route
//     through the balancer.
//   - dsr-l2: direct server return; the balancer rewrites only the
//     destination MAC. Backends are on the balancer's L2 segment and hold
//     the VIP on a loopback interface; they answer clients directly.
//   - dsr-ipip: direct server return; packets are sent to the backend inside
//     an IPv4-in-IPv4 header (protocol 4), which the backend removes.
//   - dsr-gue: direct server return; packets are sent inside GUE over UDP to
//     the backend's gue_port (default 6080, Katran's).
//   - dsr-vxlan: direct server return; packets are sent as VXLAN over UDP to
//     the backend's vxlan_port (default 4789, IANA's) with network
//     identifier vni (required, 0 to 16777215).
//
// gue_port, vni, vxlan_port are accepted only with their forwarding mode.
//
// table_size (default 65537): the size of the Maglev lookup table, a prime
// (Maglev's permutations need one; an error names the next prime) from 2
// to 16777213 and larger than the number of backends. With at least 100
// entries per backend, the backends' shares of new flows stay close to
// their weights; a larger table costs memory and time to rebuild when the
// backends change.
//
// hash (default 5-tuple): what picks a new flow's entry in the table.
// 5-tuple hashes source and destination address and port and the protocol;
// source hashes the source address only, so that all flows of one client go
// to the same backend (client affinity) while the backends stay the same.
//
// on_backend_down (default reset): what happens to the tracked flows of a
// backend that its health check takes down (not to a drained one, whose
// flows go on).
//   - reset: they are forgotten. The next packet of such a TCP flow is
//     answered with a RST, so the client reconnects to a live backend; the
//     next datagram of such a UDP flow starts a new flow.
//   - rehash: they are moved to the backend the table picks for them now and
//     keep flowing. A backend that did not know a TCP connection will
//     usually reset it; this suits UDP and backends that share state.
//
// fragments (default reassemble): how IPv4 fragments of the VIP's datagrams
// are forwarded.
//   - reassemble: the balancer reassembles the datagram and forwards it like
//     any packet (fragmenting it again if it must).
//   - hash3: dsr-* modes only. Fragments are not reassembled: each one,
//     first included, goes to the backend picked by a hash of source
//     address, destination address and protocol, which all fragments of a
//     datagram carry, so the backend reassembles. Unfragmented packets
//     still follow hash, so one flow's fragmented and whole datagrams may
//     reach different backends unless hash is source. nat must rewrite the
//     whole datagram, hence reassembles.
//
// fast_path (default false): a flow's packets are forwarded by the
// engine's XDP program itself (XDP_TX), rewritten or encapsulated as the
// worker does, not by a worker, once the flow is established (UDP: from
// its second packet). The workers
// still see each flow's first packet, TCP segments with SYN, FIN or RST,
// fragments and packets with partial checksums; counters and idle times
// are read back about once a second. See lb's package documentation for
// what it needs on a veth interface.
//
// announce (default false): the engine answers ARP requests (IPv4) or
// Neighbor Solicitations (IPv6) for the VIP's address with its own MAC
// address, as for its own addresses, and announces it when the VIP appears
// (a gratuitous ARP, an unsolicited Neighbor Advertisement; three, a
// second apart), so that
// clients on the engine's segment reach a VIP of that subnet without a
// route to the engine (the default needs one: route the VIP to an address
// of the engine). One VIP with announce covers every VIP of its address.
//
// health: the check run against each backend, at its address (not the
// VIP's), by the balancer. A backend is up after rise consecutive successes
// and down after fall consecutive failures; down backends get no new flows.
// Without health, a tcp VIP gets {type: tcp} and a udp VIP {type: none}.
//   - type (required in a health mapping): tcp (a connection completes),
//     http (a GET of path answered with status), udp (the datagram send is
//     answered by a datagram, starting with expect if expect is set) or
//     none (no checks; every backend is up; none takes no other key).
//   - port (default: the VIP's port; required when the VIP's port is 0):
//     the backend port checked, 1 to 65535.
//   - path (http; default /): the path of the GET, starting with /,
//     percent-encoded.
//   - status (http; default 200): the status expected, 100 to 599.
//   - send (udp; default empty): the payload sent. Use YAML's double-quoted
//     escapes for bytes that are not text ("\x00\x01"); a character beyond
//     \x7f is sent UTF-8 encoded.
//   - expect (udp; default empty: any reply): the prefix the reply must
//     start with.
//   - interval (default 1s): time between checks of one backend.
//   - timeout (default 500ms): how long a check may take; shorter than the
//     interval.
//   - rise, fall (default 2 each): 1 to 255.
//   - target (default backend): backend checks each backend at its own
//     address; vip (DSR modes) checks it at the VIP, which it owns, with the
//     check's packets sent to the backend as the VIP's are (dsr-l2 only so
//     far): what the service answers on the VIP, the address clients use.
//
// backends: the list of real servers, each a mapping:
//   - address (required): an IPv4 host address (as for VIPs), not the
//     VIP's, unique in the VIP.
//   - weight (default 1): 0 to 65535, the backend's share of new flows
//     relative to the other backends' weights; 0 sends it no new flows.
//   - drain (default false): true stops new flows to the backend while its
//     tracked flows go on; use it to empty a backend before maintenance.
//   - mac (dsr-vxlan only, required there): the Ethernet address of the
//     backend's VXLAN device, 02:00:5e:10:00:01, the destination of the
//     inner frame (a kernel takes only frames addressed to the device).
//
// A VIP may have no backends (the command line adds them one by one).
//
// # Connection tracking
//
// conntrack sizes the table of tracked flows, shared by all VIPs, and sets
// how long an idle flow is kept. The defaults follow Linux's netfilter
// conntrack where it has a counterpart:
//   - max_flows (default 65536): the most flows tracked at once, across
//     all workers, 1 to 4294967295; each worker sizes its table for its
//     share at start (about 190 bytes a flow: a NAT flow has two keys).
//   - tcp_syn (default 60s, Linux's nf_conntrack_tcp_timeout_syn_recv): a
//     TCP flow before its handshake completes.
//   - tcp_established (default 24h, what kube-proxy sets Linux's
//     nf_conntrack_tcp_timeout_established to, down from 5 days): an
//     established TCP flow.
//   - tcp_closing (default 120s, Linux's fin_wait and time_wait): a TCP flow
//     after a FIN or RST.
//   - udp (default 30s, Linux's nf_conntrack_udp_timeout): a UDP flow.
//
// An expired flow is not an error: its next packet is a new flow and, with
// the same backends, the table sends it to the same backend.
//
// # Errors
//
// Every error of Parse and Load names the file (Load), the line and
// column, and the field path, then says what to do:
//
//	lb.yaml:8:40: vips[0].backends[1].weight: 70000 is above 65535: use 0 to 65535
//
// Parse and Load report the problems they find (up to 20, in the order of
// the file) as an ErrorList, or a single *Error. Problems of syntax, type
// and range come first: the checks across fields (duplicates, timeout
// against interval, ...) run once the whole file decodes. Errors match, with
// errors.Is, one of ErrInvalid, ErrNotSupported (what IPv6 VIPs cannot do yet, mixed families), ErrExists
// (duplicates) and ErrNotFound (helpers: no such VIP or backend).
//
// # Saving
//
// Marshal writes the same format, leaving out keys whose value is the
// default, so that Parse(Marshal(c)) equals c; it does not keep a parsed
// file's comments. Save replaces a file atomically (temporary file, fsync,
// rename, fsync of the directory) and keeps its permission bits. Saves in
// one process are serialized; a read-modify-save cycle must be serialized
// by the caller (see Save).
package config
