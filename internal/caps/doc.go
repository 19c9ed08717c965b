// Package caps reads the process's effective capability set and names the
// capabilities the engine checks.
//
// The effective set is the CapEff line of /proc/self/status (proc(5)): a
// 64-bit mask in hex in which bit n is capability n of
// linux/capability.h. Parse reads it from any reader, so tests feed it
// canned status text; Effective reads the running process's. A caller
// asks Set.Has for the capabilities it needs and names the missing ones
// with Cap.String ("CAP_NET_ADMIN"), as the kernel's headers and
// setcap(8) spell them.
//
// The package only reads: it neither raises nor drops capabilities. A
// check is a hint for a clear error message before a privileged call
// fails with EPERM, not a guarantee (a capability may be granted or taken
// away later, and a user namespace may give it without the rights it
// names on the host).
package caps
