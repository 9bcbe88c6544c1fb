package main

import "syscall"

// watchParentDeath asks the kernel to send sig to this process when its
// parent exits (prctl PR_SET_PDEATHSIG), so the server notices at once
// rather than at its next poll of the parent's PID. The kernel sends it when
// the parent's thread that started this process exits, which in a Go parent
// need not be the whole process: parentGone treats the signal as a hint and
// checks the parent's PID.
func watchParentDeath(sig syscall.Signal) error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(sig), 0); errno != 0 {
		return errno
	}
	return nil
}
