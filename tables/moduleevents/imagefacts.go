package moduleevents

import (
	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/imagefacts"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/machofile"
)

// setImageFacts fills the fields Sysmon's image-load event has from the
// loaded file itself (a Linux host's events keep them empty, and pay
// nothing). Windows: OriginalFileName, Company, Product, Description,
// FileVersion and IMPHASH= in Hashes from the PE (tables/imagefacts,
// cached per file identity), Signed ("true"/"false"), SignatureStatus and
// Signature from Authenticode. macOS: Signed, for a code signature in
// every slice of the Mach-O file (tables/machofile; the judge's scan has
// parsed it already). A file that cannot be read leaves them empty
// (absent to Sigma), never "false".
func setImageFacts(src inventory.Source, platform string, p *inventory.Process, m *inventory.Module, ev *detections.Event) {
	ev.OriginalFileName, ev.Company, ev.Product, ev.Description, ev.FileVersion = "", "", "", "", ""
	ev.Signed, ev.SignatureStatus, ev.Signature = "", "", ""
	if platform == detections.PlatformDarwin {
		ev.Signed = machOSigned(src, p.PID, m)
		return
	}
	if platform != detections.PlatformWindows || m.FileType != inventory.FilePE {
		return
	}
	if pe, err := imagefacts.ReadPE(src, p.PID, m); err == nil && pe.IsPE {
		ev.OriginalFileName, ev.Company, ev.Product = pe.OriginalFileName, pe.Company, pe.Product
		ev.Description, ev.FileVersion = pe.Description, pe.FileVersion
		if pe.Imphash != "" {
			if ev.Hashes != "" {
				ev.Hashes += ","
			}
			ev.Hashes += "IMPHASH=" + pe.Imphash
		}
	}
	if s, err := imagefacts.ReadSignature(src, p.PID, m); err == nil {
		ev.Signed, ev.SignatureStatus, ev.Signature = "false", s.Status, s.Signer
		if s.Signed {
			ev.Signed = "true"
		}
	}
}

// machOSigned is "true" or "false" for a code signature in every slice of
// a macOS module's Mach-O file, "" when it is not Mach-O or unreadable.
func machOSigned(src inventory.Source, pid int, m *inventory.Module) string {
	info, err := machofile.Of(src, pid, m)
	if err != nil || info.Facts == nil {
		return ""
	}
	if info.Facts.Signed() {
		return "true"
	}
	return "false"
}
