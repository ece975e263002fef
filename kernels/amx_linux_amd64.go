package kernels

import "syscall"

// requestAMX asks Linux for the AMX tile data state (arch_prctl
// ARCH_REQ_XCOMP_PERM = 0x1023 for XFEATURE_XTILEDATA = 18, kernel 5.16+;
// Documentation/arch/x86/xstate.rst). Without it the first tile
// instruction raises SIGILL.
func requestAMX() bool {
	const archReqXcompPerm, xfeatureXtiledata = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0)
	return errno == 0
}
