package report_test

import (
	"os"
	"time"

	"github.com/xdpengine/engine/bench/report"
)

// A report with a summary table, the rates per second and a latency
// distribution, written to a file a user can open anywhere.
func Example() {
	r := report.New("engine bench udp -i eth1 --to 198.18.0.2:7")
	r.Table("Summary", []report.Row{{Name: "sent", Value: "100000"}, {Name: "lost", Value: "0"}})
	r.TimeSeries("Rate", "packets/s", report.Series{Name: "received",
		Points: []report.Point{{X: 1, Y: 50000}, {X: 2, Y: 50000}}})
	r.Latency("Round-trip latency", []report.Bucket{
		{Lo: 30 * time.Microsecond, Hi: 31 * time.Microsecond, Count: 90000},
		{Lo: 80 * time.Microsecond, Hi: 81 * time.Microsecond, Count: 10000},
	})
	path := os.TempDir() + "/report-example.html"
	if err := r.WriteFile(path); err != nil {
		panic(err)
	}
	os.Remove(path)
	// Output:
}
