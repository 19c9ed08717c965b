package measure_test

import (
	"fmt"

	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/signature"
)

func Example() {
	tr, err := measure.New(measure.Config{Streams: 1})
	if err != nil {
		panic(err)
	}
	// Packets 0..9 sent 1 µs apart; 4 is lost, 7 arrives after 8, 2 twice.
	for _, seq := range []int64{0, 1, 2, 2, 3, 5, 6, 8, 7, 9} {
		sent := seq * 1000
		tr.Observe(signature.Signature{Stream: 0, Seq: uint32(seq), TxNs: sent}, sent+20_000)
	}
	r := tr.Result(0, 10)
	fmt.Printf("sent %d received %d lost %d duplicates %d reordered %d\n",
		r.Sent, r.Received, r.Lost, r.Duplicates, r.Reordered)
	fmt.Println("p50", r.Latency.P50, "max", r.Latency.Max)
	// Output:
	// sent 10 received 9 lost 1 duplicates 1 reordered 1
	// p50 20µs max 20µs
}
