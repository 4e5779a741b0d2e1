# Hunt packs (packs/README.md). Included from the Makefile.

.PHONY: packs packs-check packs-cost

# Regenerate the osquery packs and Fleet GitOps files from packs/hunts/.
packs:
	$(GO) run ./packs/cmd/packgen -dir packs

# Fail when the committed outputs are stale (go test ./packs/ checks the same).
packs-check:
	$(GO) run ./packs/cmd/packgen -dir packs -check

# Each hunt's time, rows and result size on this machine, through the
# embedded engine (run as root to see every process).
packs-cost:
	$(GO) run ./packs/cmd/packcost
