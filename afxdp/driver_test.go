package afxdp

import (
	"errors"
	"testing"

	"github.com/xdpengine/engine/internal/testbed"
)

func TestDriver(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	drv, err := Driver(bed.HostIf)
	if err != nil || drv != "veth" || !VirtualDriver(drv) {
		t.Fatalf("Driver(%s) = %q, %v; virtual %v: want veth, a virtual link", bed.HostIf, drv, err, VirtualDriver(drv))
	}
	if _, err := Driver("xeb-no-such-if"); !errors.Is(err, ErrNoInterface) {
		t.Fatalf("Driver of a missing interface: %v, want ErrNoInterface", err)
	}
	for _, physical := range []string{"ixgbe", "mlx5_core", "i40e", "ice", ""} {
		if VirtualDriver(physical) {
			t.Errorf("%q counted as a virtual link", physical)
		}
	}
}
