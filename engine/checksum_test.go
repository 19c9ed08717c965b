package engine

import "testing"

// TestTxMetadataRoom: the UMEMs get transmit metadata under the auto
// policy only while an MTU-sized frame fits behind its 24 bytes.
func TestTxMetadataRoom(t *testing.T) {
	for _, c := range []struct {
		policy     TxChecksum
		frame, mtu int
		want       bool
	}{
		{TxChecksumAuto, 2048, 1500, true},
		{TxChecksumAuto, 2048, 2010, true},
		{TxChecksumAuto, 2048, 2011, false},
		{TxChecksumAuto, 4096, 4082, false},
		{TxChecksumAuto, 4096, 4058, true},
		{TxChecksumSoftware, 4096, 1500, false},
	} {
		cfg := Config{TxChecksum: c.policy, FrameSize: c.frame, MTU: c.mtu}
		if got := cfg.txMetadata(); got != c.want {
			t.Errorf("%v, frame %d, MTU %d: metadata %v, want %v", c.policy, c.frame, c.mtu, got, c.want)
		}
	}
}
