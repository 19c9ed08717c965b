package header

// checksumReference is the plain RFC 1071 algorithm, one 16-bit word at a
// time from a byte-at-a-time read; the fast Checksum is compared with it in
// tests, the fuzz target and the benchmark.
func checksumReference(b []byte, initial uint16) uint16 {
	s := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = (s & 0xffff) + (s >> 16)
	}
	return uint16(s)
}
