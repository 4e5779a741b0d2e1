package main

const defaultFlagfile = `C:\Program Files\modhunt\modhunt.flags`
