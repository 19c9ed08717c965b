package afxdp

import "fmt"

// OpenAll opens one socket per queue of ifname. With shared set, the
// sockets share one UMEM of cfg.UMEMConfig (each taking cfg.Frames frames,
// default FillSize+TxSize); otherwise each gets its own. cfg.Queue is
// ignored. On error nothing is left open.
func OpenAll(ifname string, cfg Config, shared bool) ([]*Socket, *UMEM, error) {
	n, err := QueueCount(ifname)
	if err != nil {
		return nil, nil, err
	}
	var u *UMEM
	if shared {
		if cfg.Frames == 0 {
			fs, ts := cfg.FillSize, cfg.TxSize
			if fs == 0 {
				fs = 2048
			}
			if ts == 0 {
				ts = 2048
			}
			cfg.Frames = fs + ts
		}
		uc := cfg.UMEMConfig
		if uc.Frames == 0 {
			uc.Frames = cfg.Frames * n
		}
		if u, err = NewUMEM(uc); err != nil {
			return nil, nil, err
		}
		cfg.UMEM = u
	}
	var socks []*Socket
	for q := range n {
		cfg.Queue = q
		s, err := Open(ifname, cfg)
		if err != nil {
			for _, s := range socks {
				s.Close()
			}
			if u != nil {
				u.Close()
			}
			return nil, nil, fmt.Errorf("queue %d of %d: %w", q, n, err)
		}
		socks = append(socks, s)
	}
	return socks, u, nil
}
