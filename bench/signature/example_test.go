package signature_test

import (
	"fmt"

	"github.com/xdpengine/engine/bench/signature"
)

func Example() {
	payload := make([]byte, 18) // a 64-byte UDP frame's payload
	signature.Signature{Stream: 3, Seq: 41, TxNs: 1_000_000}.Put(payload)

	var s signature.Signature
	if signature.Decode(payload, &s) {
		fmt.Printf("stream %d, packet %d, sent at %d ns\n", s.Stream, s.Seq, s.TxNs)
	}
	// A receiver that has seen up to packet 2^32+5 reads a late 0xfffffffe
	// as the packet just before the wrap.
	fmt.Println(signature.Extend(0xfffffffe, 1<<32+5))
	// Output:
	// stream 3, packet 41, sent at 1000000 ns
	// 4294967294
}
