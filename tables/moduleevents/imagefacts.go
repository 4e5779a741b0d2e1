package moduleevents

import (
	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/imagefacts"
	"github.com/modhunt/modhunt/tables/inventory"
)

// setImageFacts fills the fields Sysmon's image-load event has from the
// loaded file itself, on Windows events only (a Linux host's events keep
// them empty, and pay nothing): OriginalFileName, Company, Product,
// Description, FileVersion and IMPHASH= in Hashes from the PE
// (tables/imagefacts, cached per file identity), Signed ("true"/"false"),
// SignatureStatus and Signature from Authenticode. A file that cannot be
// read leaves them empty (absent to Sigma), never "false".
func setImageFacts(src inventory.Source, platform string, p *inventory.Process, m *inventory.Module, ev *detections.Event) {
	ev.OriginalFileName, ev.Company, ev.Product, ev.Description, ev.FileVersion = "", "", "", "", ""
	ev.Signed, ev.SignatureStatus, ev.Signature = "", "", ""
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
