# Windows suites under Wine (test/wine/README.md). Included from the Makefile.

WINE_EXEC     := $(CURDIR)/test/wine/go_windows_amd64_exec
WINE_PREFIX   := $(CURDIR)/build/wine/prefix
WINE          ?= /usr/lib/wine/wine64
WINESERVER    ?= /usr/lib/wine/wineserver64
MINGW_CC      ?= x86_64-w64-mingw32-gcc
WINE_FIXTURES := build/wine/fixtures
# Programs the Windows suites start, built here (the suites themselves run
# inside Wine, where no compiler is) and found through MODHUNT_WINE_FIXTURES.
WINE_FIXTURE_FILES := $(WINE_FIXTURES)/loadlib.exe $(WINE_FIXTURES)/payload.dll \
	$(WINE_FIXTURES)/mapimage.exe $(WINE_FIXTURES)/unlink.exe $(WINE_FIXTURES)/payload_signed.dll \
	$(WINE_FIXTURES)/payload_expired.dll $(WINE_FIXTURES)/versioned.dll $(WINE_FIXTURES)/loadmany.exe \
	$(WINE_FIXTURES)/minidumphost.exe $(WINE_FIXTURES)/rwximage.exe \
	$(WINE_FIXTURES)/clrhost.exe $(WINE_FIXTURES)/clr.dll $(WINE_FIXTURES)/managed/identity.tsv
MCS           ?= mcs
MONO          ?= mono

.PHONY: test-windows wine-fixtures wine-stop wine-clean

wine-fixtures: $(WINE_FIXTURE_FILES)

$(WINE_FIXTURES)/%.exe: test/wine/fixtures/%.c test/wine/fixtures/fixture.h
	@mkdir -p $(@D)
	$(MINGW_CC) -municode -O2 -Wall -Wextra -Werror -o $@ $<

$(WINE_FIXTURES)/%.dll: test/wine/fixtures/%.c
	@mkdir -p $(@D)
	$(MINGW_CC) -shared -O2 -Wall -Wextra -Werror -o $@ $<

# A DLL with a version resource (tables/imagefacts, process_loaded_modules'
# PE columns).
$(WINE_FIXTURES)/versioned.dll: test/wine/fixtures/versioned.c test/wine/fixtures/versioned.rc
	@mkdir -p $(@D)
	$(MINGW_CC:gcc=windres) -O coff -o $(WINE_FIXTURES)/versioned.res test/wine/fixtures/versioned.rc
	$(MINGW_CC) -shared -s -O2 -Wall -Wextra -Werror -o $@ $< $(WINE_FIXTURES)/versioned.res

# payload.dll signed by osslsigncode with a self-signed code-signing
# certificate made here (internal/winproc's Authenticode test): a signature
# that verifies but chains to a root no host trusts.
$(WINE_FIXTURES)/signer.pem:
	@mkdir -p $(@D)
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=modhunt test signer" \
	  -addext extendedKeyUsage=codeSigning -keyout $(WINE_FIXTURES)/signer.key -out $@ 2>/dev/null

$(WINE_FIXTURES)/payload_signed.dll: $(WINE_FIXTURES)/payload.dll $(WINE_FIXTURES)/signer.pem
	rm -f $@
	osslsigncode sign -h sha256 -n "modhunt test" -certs $(WINE_FIXTURES)/signer.pem \
	  -key $(WINE_FIXTURES)/signer.key -in $< -out $@ >/dev/null

# The same DLL signed with a self-signed certificate valid only in 2020
# (openssl ca can back-date one; openssl req cannot).
$(WINE_FIXTURES)/expired.pem: test/wine/fixtures/expired-ca.cnf
	@rm -rf $(WINE_FIXTURES)/expired-ca && mkdir -p $(WINE_FIXTURES)/expired-ca
	cd $(WINE_FIXTURES)/expired-ca && : >index.txt && echo 01 >serial && \
	  openssl req -new -newkey rsa:2048 -nodes -keyout key.pem -out req.csr -config $(CURDIR)/$< 2>/dev/null && \
	  openssl ca -batch -config $(CURDIR)/$< -selfsign -keyfile key.pem -in req.csr -out cert.pem \
	    -startdate 20200101000000Z -enddate 20210101000000Z 2>/dev/null
	cp $(WINE_FIXTURES)/expired-ca/cert.pem $@

$(WINE_FIXTURES)/payload_expired.dll: $(WINE_FIXTURES)/payload.dll $(WINE_FIXTURES)/expired.pem
	rm -f $@
	osslsigncode sign -h sha256 -n "modhunt test" -certs $(WINE_FIXTURES)/expired.pem \
	  -key $(WINE_FIXTURES)/expired-ca/key.pem -in $< -out $@ >/dev/null

# .NET assemblies for clrhost.exe (tables/dotnetloads), compiled here by
# Mono's mcs and strong-named with a key made here (openssl's PVK output
# less its 24-byte header is the PRIVATEKEYBLOB an .snk holds), and the
# oracle: what Mono's reflection says of each (identity.tsv), since the
# Wine prefix has no CLR to ask.
WINE_MANAGED := $(WINE_FIXTURES)/managed
$(WINE_MANAGED)/k.snk:
	@mkdir -p $(@D)
	openssl genrsa -out $(WINE_MANAGED)/k.pem 1024 2>/dev/null
	openssl rsa -in $(WINE_MANAGED)/k.pem -outform PVK -pvk-none -out $(WINE_MANAGED)/k.pvk 2>/dev/null
	tail -c +25 $(WINE_MANAGED)/k.pvk >$@

$(WINE_MANAGED)/%.dll: test/wine/fixtures/managed/%.cs $(WINE_MANAGED)/k.snk
	@command -v $(MCS) >/dev/null || { echo "$@: needs Mono's mcs (apt-get install mono-mcs)"; exit 1; }
	$(MCS) -nologo -target:library -keyfile:$(WINE_MANAGED)/k.snk -out:$@ $<

# Named after the PowerShell engine: mcs names an assembly after its file.
$(WINE_MANAGED)/System.Management.Automation.dll: test/wine/fixtures/managed/Engine.cs $(WINE_MANAGED)/k.snk
	@command -v $(MCS) >/dev/null || { echo "$@: needs Mono's mcs (apt-get install mono-mcs)"; exit 1; }
	$(MCS) -nologo -target:library -keyfile:$(WINE_MANAGED)/k.snk -out:$@ $<

$(WINE_MANAGED)/identity.exe: test/wine/fixtures/managed/Identity.cs
	@mkdir -p $(@D)
	@command -v $(MCS) >/dev/null || { echo "$@: needs Mono's mcs (apt-get install mono-mcs)"; exit 1; }
	$(MCS) -nologo -out:$@ $<

WINE_ASSEMBLIES := $(WINE_MANAGED)/Mapped.dll $(WINE_MANAGED)/Bytes.dll $(WINE_MANAGED)/System.Management.Automation.dll
$(WINE_MANAGED)/identity.tsv: $(WINE_MANAGED)/identity.exe $(WINE_ASSEMBLIES)
	$(MONO) $< $(WINE_ASSEMBLIES) >$@.tmp && mv $@.tmp $@

# Every GOOS=windows test binary, run under Wine by the runner. The prefix's
# wineserver is stopped at the end, whether the suites passed or not.
test-windows:
	@if [ ! -x $(WINE) ] || ! command -v $(MINGW_CC) >/dev/null; then \
	  echo "test-windows: skipped, needs wine64 and gcc-mingw-w64-x86-64 (apt-get install wine64 gcc-mingw-w64-x86-64)"; \
	  exit 0; \
	fi; \
	rc=0; \
	$(MAKE) --no-print-directory wine-fixtures && \
	MODHUNT_WINE=$(WINE) MODHUNT_WINESERVER=$(WINESERVER) MODHUNT_MINGW_CC=$(MINGW_CC) \
	MODHUNT_WINEPREFIX=$(WINE_PREFIX) MODHUNT_WINE_FIXTURES=$(CURDIR)/$(WINE_FIXTURES) \
	GOOS=windows GOARCH=amd64 $(GO) test -count=1 -exec $(WINE_EXEC) $(PKGS) || rc=$$?; \
	$(MAKE) --no-print-directory wine-stop; \
	exit $$rc

# Stop the prefix's wineserver and every Wine process in it (the wine64
# package's own wineserver, never through wine).
wine-stop:
	@if [ -d $(WINE_PREFIX) ] && [ -x $(WINESERVER) ]; then \
	  WINEPREFIX=$(WINE_PREFIX) $(WINESERVER) -k 2>/dev/null; \
	  WINEPREFIX=$(WINE_PREFIX) $(WINESERVER) -w 2>/dev/null; \
	fi; true

wine-clean: wine-stop
	rm -rf build/wine
