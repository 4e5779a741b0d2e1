// The library the live tests load: one symbol the loader checks.
int mh_probe(void) { return 42; }
