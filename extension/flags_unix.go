//go:build !windows

package main

const defaultFlagfile = "/etc/modhunt/modhunt.flags"
