//go:build !linux

package main

import "syscall"

// watchParentDeath does nothing outside Linux: parentGone polls the
// parent's PID instead.
func watchParentDeath(syscall.Signal) error { return nil }
